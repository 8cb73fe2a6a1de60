"""The model catalog (``models/*.json``, validated at load), its pricing and the input validator.
"""

from trt_actors.catalog.live import LiveCatalog, price_list
from trt_actors.catalog.model import (
    KINDS,
    Catalog,
    FieldSpec,
    FieldType,
    ModelSpec,
    ResultKind,
    load_catalog,
    packaged_catalog_data,
    parse_catalog,
)
from trt_actors.catalog.pricing import DEFAULT_CREDITS_PER_KIE_CREDIT
from trt_actors.catalog.validation import FieldRejected, InputRejected, validate_input

__all__ = [
    "DEFAULT_CREDITS_PER_KIE_CREDIT",
    "KINDS",
    "Catalog",
    "FieldRejected",
    "FieldSpec",
    "FieldType",
    "InputRejected",
    "LiveCatalog",
    "ModelSpec",
    "ResultKind",
    "load_catalog",
    "packaged_catalog_data",
    "parse_catalog",
    "price_list",
    "validate_input",
]
