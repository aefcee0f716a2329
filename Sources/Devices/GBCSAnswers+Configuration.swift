import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's ConfigurationReads.
extension GBCSAnswers {
    static let configurationTable: [String: GBCSAnswerEncoder] = [:]
}
