from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TargetGroupsConfig(AppConfig):
    name = "targetgroups"
    verbose_name = _("Target groups")
