"""Input serializers that refuse what they do not know."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error (``parameter_unknown``), not silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: serializers.ErrorDetail(
                        f"Unknown parameter `{unknown[0]}`.", code="parameter_unknown"
                    )}
                )
        return super().to_internal_value(data)
