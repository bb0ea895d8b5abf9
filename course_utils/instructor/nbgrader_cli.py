"""``python -m course_utils.instructor.nbgrader_cli ARGS``: nbgrader's own command line, started faster.

Two start-up costs of nbgrader that grading pays on every run, and nothing else changes:

- jsonschema's optional IRI format checker (``rfc3987_syntax``) compiles 39 grammars when imported
  (about 2.5 s), and notebook validation never uses it;
- a new gradebook asks ``alembic heads`` for the schema version in a subprocess (about 5 s on
  2 cores); alembic's own API answers the same in 10 ms;
- nbgrader checks every cell's metadata with ``jsonschema.validate``, which first checks the schema
  itself against the meta-schema, every time (about 0.4 s per notebook); the check is made once here.
"""
import sys
import types


def alembic_head():
    """What nbgrader's ``get_alembic_version`` returns, read without a subprocess."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader import api

    with api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(Config(ini)).get_current_head()


_VALIDATORS = {}  # id(schema) -> (schema, its validator); the schema is kept, so its id stays its own


def validate(instance, schema):
    """``jsonschema.validate(instance, schema)``, with the schema checked once, not on every call."""
    import jsonschema

    if id(schema) not in _VALIDATORS:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _VALIDATORS[id(schema)] = (schema, cls(schema))
    error = jsonschema.exceptions.best_match(_VALIDATORS[id(schema)][1].iter_errors(instance))
    if error is not None:
        raise error


def main():
    sys.modules["rfc3987_syntax"] = None  # jsonschema then skips the IRI checker
    from nbgrader import api
    from nbgrader.apps.nbgraderapp import main as nbgrader_main
    from nbgrader.nbgraderformat import common

    if hasattr(api, "_temp_alembic_ini"):  # nbgrader 0.9; otherwise keep its own subprocess
        api.get_alembic_version = alembic_head
    common.jsonschema = types.SimpleNamespace(validate=validate)  # its only use there
    nbgrader_main()


if __name__ == "__main__":
    main()
