import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's DeviceSecurityReads and SubGHzAndIdentityReads.
extension GBCSAnswers {
    static let securityAndHANTable: [String: GBCSAnswerEncoder] = [:]
}
