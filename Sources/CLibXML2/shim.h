#ifndef GBSM_CLIBXML2_SHIM_H
#define GBSM_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
/* Debian's libxml2 is built with ICU, so its encoding.h includes the system's
 * <unicode/ucnv.h>. Swift's Foundation carries its own ICU, and the two definitions of
 * UErrorCode clash when one Swift module imports both. gbsm never touches libxml2's
 * encoding handlers' ICU fields (they sit at the end of a struct only used through
 * pointers), so the headers are read without them. */
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/c14n.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlsave.h>
#include <libxml/SAX2.h>
#include <libxml/xmlschemas.h>

/// xmlFree is a global function pointer in libxml2; this wrapper lets Swift call it
/// without touching shared mutable state.
static inline void gbsm_xml_free(void *pointer) { xmlFree(pointer); }

static void gbsm_discard_error(void *context, const char *message, ...) { (void)context; (void)message; }

/// libxml2 reports some errors (C14N's, for instance) through a global handler that
/// prints to stderr; gbsm reads errors from return values instead. The handler is
/// per thread, so the default for new threads is set as well.
static inline void gbsm_silence_libxml2(void) {
    xmlThrDefSetGenericErrorFunc(NULL, gbsm_discard_error);
    xmlSetGenericErrorFunc(NULL, gbsm_discard_error);
}
/// Installs libxml2's loader that refuses network URLs, for every load the process makes
/// (schema imports included): gbsm reads schemas from a folder and never fetches one.
static inline void gbsm_forbid_network_loads(void) {
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
}
#endif
