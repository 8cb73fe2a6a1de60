"""The model catalog (``catalog.json``, validated at load) and the input validator.
"""

from trt_actors.catalog.model import (
    Catalog,
    FieldSpec,
    FieldType,
    ModelSpec,
    load_catalog,
    packaged_catalog_text,
    parse_catalog,
)
from trt_actors.catalog.validation import FieldRejected, InputRejected, validate_input

__all__ = [
    "Catalog",
    "FieldRejected",
    "FieldSpec",
    "FieldType",
    "InputRejected",
    "ModelSpec",
    "load_catalog",
    "packaged_catalog_text",
    "parse_catalog",
    "validate_input",
]
