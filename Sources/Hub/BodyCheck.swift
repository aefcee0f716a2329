import DUIS

/// The gateway's value stage: every value the hub will read fits its DUIS type (ranges,
/// lengths, formats) before anything acts on the body, and a device command's parameters
/// make sense together. With DCC's schema loaded, intake has checked every value against
/// it; without it, gbsm's typed field table (the same ranges) stands in. The parameters'
/// coherence is DUIS's (`CommandBodyRules`), applied here so a
/// request that cannot run is refused at once, not after its I99.
///
/// Pure: E12 with its rule, or nil.
struct BodyCheck: Sendable {
    /// Whether DCC's DUIS 5.4 schema checked the body at intake.
    let schemaChecked: Bool
    /// The certificates DCC itself would put on a device (6.21, 6.23, 8.5).
    var replacements = ReplacementCertificateCheck(keystore: [])

    func refusal(_ header: RequestHeader, body: ElementTree) -> Refusal? {
        if !schemaChecked, let problem = DUISFields.problem(in: body) {
            return Refusal(.E12, rule: .bodySchema, problem)
        }
        guard !header.variant.isNonDevice else { return nil }
        let problem = schemaChecked ? CommandBodyRules.incoherence(srv: header.variant.srv, body: body)
                                    : CommandBodyRules.problem(srv: header.variant.srv, body: body)
        if let problem { return Refusal(.E12, rule: .body, problem) }
        return replacements.problem(srv: header.variant.srv, body: body).map { Refusal(.E12, rule: .replacementCertificates, $0) }
    }
}
