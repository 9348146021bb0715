"""Dump what the official Python SDK makes of OCI config files, as JSON.

Usage (HOME is set by the caller so that `~` expands to a known directory):

  config_dump.py FILE PROFILE
      one result for oci.config.from_file(FILE, PROFILE)
  config_dump.py --batch < [{"file": F, "profile": P}, ...]
      a list of results, one per request
  config_dump.py --sections FILE...
      per file, {"sections": {section: {key: value}}, "own": {section: {key: value}}} as
      configparser reads it ("sections": DEFAULT, then every section with its own and inherited
      keys; "own": only the keys written in each section), or an error result
  config_dump.py --table < [[[key, "missing"|"malformed"], ...], ...]
      per list of rows, the CLI's "Config Errors" table
      (oci_cli.formatting.render_config_errors) as a string

A result is {"config": {...}} on success, or
{"error": <exception class name>, "message": str(e), ...} with, for configparser errors, the
line numbers it reports ("lineno", or "lines" for ParsingError) and "section"/"option".
"""

import configparser
import json
import sys

import oci


def error_result(e):
    out = {"error": type(e).__name__, "message": str(e)}
    if isinstance(e, configparser.MissingSectionHeaderError):
        out["lineno"] = e.lineno
    elif isinstance(e, configparser.ParsingError):
        out["lines"] = [lineno for lineno, _ in e.errors]
    elif isinstance(e, configparser.DuplicateOptionError):
        out.update(lineno=e.lineno, section=e.section, option=e.option)
    elif isinstance(e, configparser.DuplicateSectionError):
        out.update(lineno=e.lineno, section=e.section)
    return out


def load(file, profile):
    try:
        return {"config": oci.config.from_file(file_location=file, profile_name=profile)}
    except Exception as e:  # every failure is a result to compare
        return error_result(e)


def sections(file):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        if not parser.read(file):
            return {"error": "ConfigFileNotFound", "message": file}
    except Exception as e:
        return error_result(e)
    names = ["DEFAULT"] + parser.sections()
    own = {name: dict(parser._sections[name]) for name in parser.sections()}
    own["DEFAULT"] = dict(parser.defaults())
    return {"sections": {name: dict(parser[name]) for name in names}, "own": own}


def table(rows):
    from oci_cli.formatting import render_config_errors

    class Exc:
        errors = dict((key, code) for key, code in rows)

    return render_config_errors(Exc())


def main(argv):
    if len(argv) == 2 and argv[1] == "--batch":
        requests = json.load(sys.stdin)
        out = [load(r["file"], r["profile"]) for r in requests]
    elif len(argv) >= 3 and argv[1] == "--sections":
        out = [sections(f) for f in argv[2:]]
    elif len(argv) == 2 and argv[1] == "--table":
        out = [table(rows) for rows in json.load(sys.stdin)]
    elif len(argv) == 3:
        out = load(argv[1], argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
