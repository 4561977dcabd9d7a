from django.db import migrations, models


class Migration(migrations.Migration):
    """The rare statuses' index of recipients is keyed by id, then status.

    In id order, the newest failures (the dashboard's, a filter's first page)
    are read straight from it, whatever the status asked for.
    """

    dependencies = [
        ("sepsms", "0004_recipient_rare_status_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="recipient",
            index=models.Index(
                condition=models.Q(("status__in", ("queued", "pending", "success")), _negated=True),
                fields=["id", "status"],
                name="sepsms_rcpt_rare_status",
            ),
        ),
        migrations.RemoveIndex(
            model_name="recipient",
            name="sepsms_rcpt_rare_status_id",
        ),
    ]
