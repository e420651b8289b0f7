"""The ``im_messages`` dimension is ``kind`` (as docs/billing.md and the plans say), not
``conversation_type`` (decision 0824): rename it in stored usage, rollups and plan charges."""

import json

from django.db import migrations

OLD, NEW = "conversation_type", "kind"


def _renamed(dims: dict) -> dict:
    if OLD not in dims:
        return dims
    dims = dict(dims)
    dims.setdefault(NEW, dims.pop(OLD))
    dims.pop(OLD, None)
    return dims


def _dims_key(dims: dict) -> str:
    return json.dumps(dict(sorted(dims.items())), separators=(",", ":"), ensure_ascii=False) if dims else ""


def forwards(apps, schema_editor):
    UsageEvent = apps.get_model("billing", "UsageEvent")
    UsageDaily = apps.get_model("billing", "UsageDaily")
    PlanVersion = apps.get_model("billing", "PlanVersion")
    for model in (UsageEvent, UsageDaily):
        for row in model.objects.filter(meter="im_messages", dimensions__has_key=OLD).iterator(chunk_size=2000):
            row.dimensions = _renamed(row.dimensions)
            fields = ["dimensions"]
            if model is UsageDaily:
                row.dims_key = _dims_key(row.dimensions)
                fields.append("dims_key")
            row.save(update_fields=fields)
    for version in PlanVersion.objects.all():
        changed = False
        for charge in version.charges:
            if charge.get("meter") != "im_messages":
                continue
            if isinstance(charge.get("filter"), dict) and OLD in charge["filter"]:
                charge["filter"] = _renamed(charge["filter"])
                changed = True
            if charge.get("group_by") == OLD:
                charge["group_by"] = NEW
                changed = True
        if changed:
            version.save(update_fields=["charges"])


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_usage_mode_and_origin")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
