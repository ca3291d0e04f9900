"""`manage.py crm_export {companies,contacts,deals} [--format csv|xlsx|json] [--output FILE]`."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm_admin.resources import FORMATS, RESOURCES


class Command(BaseCommand):
    help = (
        "Export every company, contact or deal as CSV, XLSX or JSON, to a file or stdout. "
        "The file streams: memory stays flat however many records there are."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", choices=sorted(RESOURCES))
        parser.add_argument("--format", dest="file_format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--output", "-o", help="The file to write (default: stdout).")

    def handle(self, *args, model, file_format, output, **options):
        resource = RESOURCES[model]()
        chunks = resource.export_stream(file_format=file_format)
        if output:
            try:
                with Path(output).open("wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
            except OSError as error:
                raise CommandError(f"{output}: {error.strerror or error}") from None
            self.stderr.write(f"Wrote {model} to {output}.")
            return
        stream = getattr(self.stdout, "_out", sys.stdout)
        binary = getattr(stream, "buffer", None)
        if file_format == "xlsx" and (binary is None or stream.isatty()):
            raise CommandError("XLSX is a binary format: give --output FILE or redirect stdout.")
        for chunk in chunks:
            if binary is not None:
                binary.write(chunk)
            else:
                # A text stream (call_command(stdout=StringIO())): CSV and JSON are UTF-8.
                stream.write(chunk.decode())
        (binary or stream).flush()
