"""The IM pre-send hook per mode (issue 13, finding 1): ``hook_url`` serves live conversations,
``test_hook_url`` test ones, so a test key can no longer point live messages at its own hook.

Existing rows served both modes with one hook: it is copied to the test field, so nothing an app
sees changes until a key of one mode sets its own.
"""

from django.db import migrations, models
from django.db.models import F


def copy_hook(apps, schema_editor):
    apps.get_model("im", "ImSettings").objects.exclude(hook_url="").update(test_hook_url=F("hook_url"))


class Migration(migrations.Migration):

    dependencies = [
        ("im", "0002_im_mode"),
    ]

    operations = [
        migrations.AddField(
            model_name="imsettings",
            name="test_hook_url",
            field=models.URLField(blank=True, default="", max_length=1000),
        ),
        migrations.RunPython(copy_hook, migrations.RunPython.noop),
    ]
