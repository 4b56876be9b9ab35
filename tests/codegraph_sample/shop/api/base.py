"""Storage."""


class Repository:
    def __init__(self):
        self.rows = {}

    def get(self, key):
        return self.rows.get(key)

    def save(self, key, value):
        self.rows[key] = value
