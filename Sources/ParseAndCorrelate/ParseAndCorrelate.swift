/// ParseAndCorrelate: what DCC's Parse and Correlate software does for a DCC user, on the
/// user's side of the interface. A device's answer or alert arrives as GBCS bytes in a
/// DUIS `sr:GBCSPayload`; this module checks it (signature, MAC, encrypted blocks, with
/// the user's keys through `GBCSKeyStore`), decodes it, and writes it as the Message
/// Mapping Catalogue's XML (`ra:GBCSResponse`, schema MMC 5.4), the same form gbsm's
/// emulated devices answer in today (`docs/DEVICE-RESPONSES.md`).
///
/// - `ParsedMessage`: a message that verified, opened and decoded, or a `ParseError`.
/// - `MMCMapping`: answers, by use case (`UseCases`), one mapper per use case in the
///   family files; `AlertMapping`: alerts.
/// - A use case with no mapper yet is printed as the decoded tree (`gbsm gbcs parse`).
///
/// Every position a mapper reads is GBCS's (the use case's response table, checked
/// against DCC's Reference Test Data Set); a payload that is not laid out so is a
/// `MappingError`, never a guess.
enum ParseAndCorrelateModule {}
