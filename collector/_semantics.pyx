# cython: language_level=3
"""What a span's attributes mean: the rules of mapping, apart from reading the wire format. Pure.

The compiled reader (collector._rows) finds each alias table's value (the first
present, non-empty attribute of the table, collector._attributes) and hands
the values here; these functions decide what they mean: which operation a span
is, whether it is a model call, its cost and where the cost came from, its
error type, whether its answer was degraded. They are compiled (cimported by
the reader, no Python call per span) and callable from Python, so that
tests/collector/test_semantics.py pins each rule in a table.
"""

from libc.math cimport isinf, isnan

from collector import _attributes as names
from collector._attributes import MODEL_OPERATIONS
from collector._columns import COST_PRICED, COST_REPORTED, COST_UNPRICED
from collector._pricing import cost_usd

MAX_COUNT = 1 << 64  # the token columns are UInt64
_TRUE = frozenset({"true", "1", "yes"})
_NOT_DEGRADED_SOURCES = frozenset({"", "primary"})
# The operation synonym tables, by their attribute's position in OPERATION_SYNONYMS.
_SYNONYMS = tuple(names.OPERATION_SYNONYMS.values())
# semconv's error.type when an error has no type of its own.
OTHER_ERROR = "_OTHER"


cpdef uint64_t token_count(str text):
    """A token count from an attribute value; anything not a number from 0 to 2**64 - 1 counts as 0."""
    if not text:
        return 0
    try:
        number = int(text)
    except ValueError:
        number = reported_cost(text)
        if number is None:
            return 0
    return <uint64_t>int(number) if 0 < number < MAX_COUNT else 0


cpdef object reported_cost(str text):
    """A cost the span reports, as a number of USD; None when absent, negative or not a finite number."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 and not isinf(value) and not isnan(value) else None


cpdef str operation(str named, str synonym, Py_ssize_t synonym_table):
    """The span's gen_ai.operation.name: as named, else the synonym table's word for it (OpenInference's
    span kind, OpenLLMetry's request type), `synonym_table` being that attribute's position in
    OPERATION_SYNONYMS; '' when neither says."""
    if named or not synonym:
        return named
    return _SYNONYMS[synonym_table].get(synonym, "")


cpdef bint is_model_call(str operation, str model, uint64_t input_tokens, uint64_t output_tokens):
    """A call to a model: one of the model operations, or, with no operation named, a span that names a
    model or counts tokens. An agent span repeating its children's totals is no model call."""
    return operation in MODEL_OPERATIONS or (not operation and bool(model or input_tokens or output_tokens))


cpdef tuple cost(object reported, bint model_call, object price, uint64_t input_tokens, uint64_t output_tokens,
                 uint64_t cache_read_tokens, uint64_t cache_write_tokens):
    """(cost in USD, CostSource): the span's reported cost wins (`reported`); else a model call is priced
    by `price` (its model's entry at the span's date) or, without one, costs 0 as unpriced; other spans
    have no cost and no source."""
    if reported is not None:
        return reported, COST_REPORTED
    if not model_call:
        return 0.0, ""
    if price is None:
        return 0.0, COST_UNPRICED
    return cost_usd(price, input_tokens=input_tokens, output_tokens=output_tokens,
                    cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens), COST_PRICED


cpdef str error_type(str attribute, str exception_type, str status_code):
    """The span's error type: its error.type attribute, else its exception event's type, else `_OTHER`
    for a span in status Error, else ''. A Python class written as its repr (`<class 'openai.APIError'>`,
    as some instrumentations record it) is its qualified name (`openai.APIError`)."""
    if attribute:
        return _class_name(attribute)
    if exception_type:
        return _class_name(exception_type)
    return OTHER_ERROR if status_code == "Error" else ""


cdef str _class_name(str text):
    if text.startswith("<class '") and text.endswith("'>"):
        return text[8:-2]
    return text


cpdef bint degraded(str attribute, str fallback_source):
    """Whether the answer was degraded: flagged so (true, 1, yes), or served by anything but the primary."""
    return attribute.lower() in _TRUE or fallback_source not in _NOT_DEGRADED_SOURCES
