from rest_framework.routers import SimpleRouter

from targetgroups import api

router = SimpleRouter()
router.register("target-groups", api.TargetGroupViewSet, basename="api-targetgroup")

urlpatterns = router.urls
