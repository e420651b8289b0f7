"""IM users and conversations carry the mode of the key that made them (issue 13 finding 1).

Rows from before this had no mode (IM had no test mode): they become live, so a production app
keeps its users and conversations; sandbox rows can be recreated with a test key.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("im", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="imuser",
            name="mode",
            field=models.CharField(default="live", max_length=4),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="conversation",
            name="mode",
            field=models.CharField(default="live", max_length=4),
            preserve_default=False,
        ),
    ]
