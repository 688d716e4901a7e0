from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _unicode_upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def sqlite_unicode_upper(sender, connection, **kwargs) -> None:
    """SQLite's UPPER folds ASCII only; conditions ignore case in Finnish too
    ("ÄÄNEKOSKI" equals "äänekoski"), as they do on PostgreSQL."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("UPPER", 1, _unicode_upper, deterministic=True)


class TargetGroupsConfig(AppConfig):
    name = "targetgroups"
    verbose_name = _("Target groups")

    def ready(self) -> None:
        connection_created.connect(sqlite_unicode_upper, dispatch_uid="targetgroups-sqlite-upper")

        from crm.signals import demo_seeded
        from targetgroups.demo import seed_demo_target_groups

        demo_seeded.connect(seed_demo_target_groups, dispatch_uid="targetgroups-demo")
