"""Input checks."""


class ValidationError(ValueError):
    pass


def check_quantity(qty):
    if qty <= 0:
        raise ValidationError(f"quantity must be positive, got {qty}")
