import DUIS
import GBCS

/// GBCS answers: the inverse of Parse and Correlate's TariffReads and PrepaymentAndAuxiliaryReads.
extension GBCSAnswers {
    static let tariffAndPrepaymentTable: [String: GBCSAnswerEncoder] = [:]
}
