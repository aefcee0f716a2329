import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's ElectricityLogReads.
extension GBCSAnswers {
    static let electricityLogTable: [String: GBCSAnswerEncoder] = [:]
}
