"""Input serializers that refuse what they do not know."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error (400 ``invalid_request`` naming the field), not silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: serializers.ErrorDetail(
                        f"Unknown parameter `{unknown[0]}`.", code="invalid_request"
                    )}
                )
        return super().to_internal_value(data)
