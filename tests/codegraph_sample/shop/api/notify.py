"""Receipts."""


def format_receipt(total):
    return f"Total: {total / 100:.2f}"


def send_receipt(email, total):
    return {"to": email, "body": format_receipt(total)}
