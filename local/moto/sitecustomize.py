"""Loaded by the `moto_server` our tools start (local/src/moto.rs puts this directory on
PYTHONPATH): two costs of moto that DynamoDB does not have, which made every measurement
of an app with many links a measurement of moto.

1. moto 5 backs up a transaction by deep-copying the whole table once per item in it, so
   a transaction's time grows with the table: a 100-item transaction against a table of
   a thousand links took seconds. This keeps moto's own code and semantics (conditions
   checked, everything rolled back when any fails) but backs up only the items the
   transaction touches.
2. moto 5 answers through a generic, model-driven serializer that walks every attribute
   of every item in Python: a Query of a partition of a few hundred links took a large
   part of a second. Query and Scan answers, already DynamoDB JSON, are written with
   `json.dumps` instead (moto's serializer remains the fallback).

Nothing here changes what moto answers; `make test` runs the store contract against it.
"""

import copy
import json
import threading

try:
    from moto.dynamodb import models as _models
    from moto.dynamodb.models.table import Table as _Table
except Exception:  # another moto layout: leave it as it is
    _models = None

_local = threading.local()


class _Copy:
    """moto's `copy` module, except that a table is not copied inside a transaction."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(x, *args, **kwargs):
        if getattr(_local, "in_transaction", False) and isinstance(x, _Table):
            return x
        return copy.deepcopy(x, *args, **kwargs)


def _touched(backend, transact_items):
    """(table name, key, a copy of the item or None) for every item the transaction names."""
    out = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            name = op["TableName"]
            table = backend.get_table(name)
            if "Item" in op:
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            current = backend.get_item(name, key)
            out.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        except Exception:
            continue  # moto's own code reports what is wrong with it
    return out


def _restore(backend, touched):
    for name, key, attrs in reversed(touched):
        try:
            if attrs is None:
                if backend.get_item(name, key) is not None:
                    backend.delete_item(name, key)
            else:
                backend.put_item(name, attrs)
        except Exception:
            pass


if _models is not None and hasattr(_models, "DynamoDBBackend"):
    _models.copy = _Copy()
    _original = _models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        touched = _touched(self, transact_items)
        _local.in_transaction = True
        try:
            return _original(self, transact_items)
        except Exception:
            _restore(self, touched)
            raise
        finally:
            _local.in_transaction = False

    _models.DynamoDBBackend.transact_write_items = transact_write_items


try:
    from moto.core.responses import ActionResult as _ActionResult
    from moto.dynamodb.responses import DynamoHandler as _Handler
except Exception:  # another moto layout: leave it as it is
    _Handler = None


if _Handler is not None:

    class _Json(_ActionResult):
        """A result already in DynamoDB's JSON shape, written as it is."""

        def __init__(self, inner):
            super().__init__(inner.result)
            self._inner = inner

        def execute_result(self, context):
            try:
                body = json.dumps(self.result, separators=(",", ":"))
            except (TypeError, ValueError):
                return self._inner.execute_result(context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    def _fast(original):
        def action(self):
            result = original(self)
            return _Json(result) if isinstance(result, _ActionResult) else result

        return action

    for _name in ("query", "scan"):
        setattr(_Handler, _name, _fast(getattr(_Handler, _name)))
