/* proxy/mailhdr.h: read one field from a block of RFC 5322 header lines (pure) */
#ifndef SLUICE_MAILHDR_H
#define SLUICE_MAILHDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * mailhdr_get - the value of the first field called name (case-insensitive)
 * in the header block hdr[0..len), unfolded (CRLF + WSP becomes one space),
 * trimmed, control bytes replaced with '?', cut to fit out (always
 * NUL-terminated). The block may be incomplete (a size-capped copy): a field
 * cut short is returned as far as it goes. Lines end in CRLF or LF; the
 * block ends at the first empty line. Returns false when the field is absent.
 */
bool mailhdr_get(const char *hdr, size_t len, const char *name, char *out, size_t outsz);

#endif
