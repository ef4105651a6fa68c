from libc.stdint cimport uint64_t

cpdef uint64_t token_count(str text)
cpdef object reported_cost(str text)
cpdef str operation(str named, str synonym, Py_ssize_t synonym_table)
cpdef bint is_model_call(str operation, str model, uint64_t input_tokens, uint64_t output_tokens)
cpdef tuple cost(object reported, bint model_call, object price, uint64_t input_tokens, uint64_t output_tokens,
                 uint64_t cache_read_tokens, uint64_t cache_write_tokens)
cpdef str error_type(str attribute, str exception_type, str status_code)
cpdef bint degraded(str attribute, str fallback_source)
