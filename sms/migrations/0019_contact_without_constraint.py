"""An outbound message's contact without a database constraint (#21): its check
cost the Yes 5 µs per message at commit (0.5 s at 100,000 members).

What the constraint guarded (no message naming a contact that is gone) is now a
trigger on the contacts: deleting a contact, by the ORM or by hand, blanks the
contact of its messages (what ``on_delete=SET_NULL`` does in the ORM). On
PostgreSQL it first takes the organisation's contacts lock
(``pg_advisory_xact_lock(CONTACTS_LOCK, organisation)``), which a Yes holds
shared while it writes its messages (``sms.sendouts.insert.contacts_hold``): a
contact deleted during a Yes waits for it to commit and then blanks the messages
it wrote, and a Yes after a deletion does not see the contact. Its UPDATE takes
a fresh snapshot (the function is VOLATILE), so it sees the Yes's rows.

On SQLite (the no-setup default, whose writers never overlap) there is no
trigger: the ORM's ``SET_NULL`` blanks the messages of a contact it deletes, and
a trigger naming the messages' table would stop SQLite from rebuilding that
table in a later migration.

One index (contact, sendout) replaces the two (the contact's, and (sendout,
contact)): it finds a contact's messages and a click's recipient.
"""

import django.db.models.deletion
from django.db import migrations, models

CONTACTS_LOCK = 210019
"""The first key of the organisation's contacts lock (``sms.sendouts.insert``)."""

POSTGRESQL = f"""
CREATE FUNCTION sms_contact_deleted() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({CONTACTS_LOCK}, (OLD.organisation_id % 2147483647)::int);
  UPDATE sms_outboundmessage SET contact_id = NULL WHERE contact_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER sms_contact_deleted BEFORE DELETE ON crm_contact
  FOR EACH ROW EXECUTE FUNCTION sms_contact_deleted();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS sms_contact_deleted ON crm_contact;
DROP FUNCTION IF EXISTS sms_contact_deleted();
"""


def _create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)


def _drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0007_contact_phone_not_mobile"),
        ("sms", "0018_outbound_message_lighter"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="outboundmessage",
            name="sms_message_sendout_contact",
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="sms_messages",
                to="crm.contact",
                verbose_name="contact",
            ),
        ),
        migrations.AddIndex(
            model_name="outboundmessage",
            index=models.Index(fields=["contact", "sendout"], name="sms_message_contact_sendout"),
        ),
        migrations.RunPython(_create, _drop, elidable=False),
    ]
