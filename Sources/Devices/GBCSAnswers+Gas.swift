import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's GasReads.
extension GBCSAnswers {
    static let gasTable: [String: GBCSAnswerEncoder] = [:]
}
