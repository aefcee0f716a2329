#ifndef GBSM_CLIBXML2_SHIM_H
#define GBSM_CLIBXML2_SHIM_H
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/c14n.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlsave.h>
#include <libxml/SAX2.h>
/// xmlFree is a global function pointer in libxml2; this wrapper lets Swift call it
/// without touching shared mutable state.
static inline void gbsm_xml_free(void *pointer) { xmlFree(pointer); }
#endif
