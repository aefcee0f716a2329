/// MMC: DCC's Message Mapping Catalogue, the form in which a device's answers and alerts
/// are read once their GBCS is parsed. Both sides of the device boundary speak it: the
/// emulated devices (`Devices`) build their answers as MMC trees before writing them in
/// GBCS, and DCC's Parse and Correlate (`ParseAndCorrelate`) maps GBCS back into it for
/// users who chose MMC. It owns no wire format of its own beyond the catalogue's XML.
///
/// - `DataNode`: an MMC element tree (names, attributes, text, children in the
///   catalogue's order).
/// - `DeviceMessageHeader`, `DeviceResponse`, `DeviceAlert`: a device's message.
/// - `MMCXMLCodec`: the catalogue's `ra:GBCSResponse` XML, in canonical form.
/// - `DeviceFormat`: values written as the catalogue writes them.
///
/// It depends on `DUIS` only (EUI-64s, timestamps, the canonical XML writer), so DCC's
/// side can read device messages without knowing how the devices are emulated.
enum MMC {}
