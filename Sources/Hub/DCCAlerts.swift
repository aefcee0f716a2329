import DUIS

/// DCC alerts the hub raises, as DUIS `DCCAlertMessage` bodies.
enum DCCAlerts {
    /// AD1: a request was quarantined by anomaly detection; the user decides whether to
    /// release or delete it.
    static func quarantined(requestID: String, reference: Int64, userThreshold: Bool) -> DUISResponse.Body {
        .dccAlert(code: "AD1") { writer in
            writer.open("sr:QuarantinedRequest")
            writer.open(userThreshold ? "sr:ADUserThresholdBreach" : "sr:ADDCCThresholdBreach")
            writer.element("sr:RequestID", requestID)
            writer.element("sr:QuarantineEventRef", String(reference))
            writer.close()
            writer.close()
        }
    }
}
