"""Raw dumps compressed with lz4 where PostgreSQL has it: a snapshot's dumps are hundreds of
kilobytes, and lz4 stores them in half the time of the default pglz."""

from django.db import migrations

COLUMNS = (("rules_snapshot", "dumps"), ("rules_rejectedupload", "raw"))


def _set_compression(method: str):
    def apply(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'",
                [method],
            )
            row = cursor.fetchone()
            if not row or not row[0]:
                return  # a server built without lz4 keeps its default
            quote = connection.ops.quote_name
            for table, column in COLUMNS:
                cursor.execute(
                    f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} "
                    f"SET COMPRESSION {method}"
                )

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_bulk_rows_without_fk_check"),
    ]

    operations = [
        migrations.RunPython(_set_compression("lz4"), _set_compression("pglz")),
    ]
