import DUIS
import Foundation
import SMKI
import Storage

/// The gateway's second stage: who sent the request. The enveloped XML signature must
/// name a certificate registered to a DCC user, that user must be the RequestID's
/// originator, the certificate valid at the time of receipt, and the signature verify
/// with its key. Every refusal is E1 with its rule.
///
/// It reads the registry and the time it is given; it writes nothing (the gateway
/// records the outcome).
struct RequestAuthenticator: Sendable {
    let registry: UserRegistry

    func authenticate(_ request: ServiceRequestDocument, at time: Timestamp) -> Result<UserRecord, Refusal> {
        let header = request.header
        let signature: EnvelopedSignature
        do {
            signature = try request.signature()
        } catch {
            return .failure(Refusal(.E1, rule: .signature, error.description))
        }
        guard let (record, certificate) = registry.certificate(for: signature.signer) else {
            return .failure(Refusal(.E1, rule: .signature, SignatureError.unknownSigner(signature.signer).description))
        }
        guard record.eui == header.requestID.originator else {
            return .failure(Refusal(.E1, rule: .signature, SignatureError.signerMismatch("the certificate is registered to \(record.eui), the RequestID names \(header.requestID.originator)").description))
        }
        let validity = certificate.certificate
        let now = Date(timeIntervalSince1970: Double(time.milliseconds) / 1000)
        guard validity.notValidBefore <= now, now <= validity.notValidAfter else {
            return .failure(Refusal(.E1, rule: .certificateValidity, "certificate \(record.serialNumber) is not valid at \(time.iso8601)"))
        }
        guard let key = certificate.signingKey else {
            return .failure(Refusal(.E1, rule: .signature, "certificate \(record.serialNumber) has no ECDSA P-256 key"))
        }
        do {
            try signature.verify(in: request.document, key: key)
        } catch {
            return .failure(Refusal(.E1, rule: .signature, error.description))
        }
        guard let user = registry.user(record.eui) else {
            return .failure(Refusal(.E1, rule: .userRegistered, "\(record.eui) is not a registered DCC user"))
        }
        return .success(user)
    }
}
