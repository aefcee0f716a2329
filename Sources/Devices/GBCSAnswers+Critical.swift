import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's the answers to critical commands.
extension GBCSAnswers {
    static let criticalTable: [String: GBCSAnswerEncoder] = [:]
}
