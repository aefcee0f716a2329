/// DUIS: the DCC User Interface Specification as gbsm speaks it. Safe parsing of
/// untrusted XML with libxml2 (no DTDs, no entities, no network, size, depth and
/// element limits), validation against DCC's DUIS 5.4 and MMC 5.4 XML schemas (libxml2's
/// XSD validator, schemas read from a folder and compiled once), canonicalisation (C14N 1.0 and exclusive C14N), enveloped XML
/// signatures with ECDSA P-256 (verifying any signer's form, signing DCC's responses
/// straight in canonical form), DUIS Service Requests and Responses, EUI-64 and
/// RequestID identifiers, response codes, and the catalogue of the 129 Service Request
/// Variants with their roles, command variants and device types.

/// The DUIS namespaces.
public enum DUISNamespace {
    public static let serviceUserGateway = "http://www.dccinterface.co.uk/ServiceUserGateway"
    public static let responseAndAlert = "http://www.dccinterface.co.uk/ResponseAndAlert"
}
