import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import Hummingbird
import Logging
import NIOCore
import SMKI
import Server
import ServiceLifecycle
import Testing
import TestSupport

/// The signing service speaks DCC Boxed's signing tool API: it signs a template with its
/// originator's ZAZ1 key so that the hub accepts it, verifies the hub's signed answer and
/// hands it back unsigned, and refuses a tampered answer with a JSON error.
@Suite(.serialized) struct SigningServiceTests {
    struct Running {
        let port: Int
        let group: ServiceGroup
        let task: Task<Void, any Error>
        var url: String { "http://127.0.0.1:\(port)" }
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    static func start(keystore: Keystore) async throws -> Running {
        var logger = Logger(label: "gbsm.test.sign")
        logger.logLevel = .warning
        let box = PortBox()
        let app = SigningService(keystore: keystore, schemas: Reference.schemas).application(host: "127.0.0.1", port: 0, logger: logger) { box.set($0) }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { try await group.run() }
        return Running(port: try await box.wait(), group: group, task: task)
    }

    static func call(_ url: String, _ json: [String: Any], contentType: String? = "application/json", host: String? = nil) async throws -> (status: Int, object: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let host { request.headers.replaceOrAdd(name: "Host", value: host) }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 32 << 20)
        #expect(response.headers.first(name: "Content-Type") == "application/json")
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func signsWhatTheHubAcceptsVerifiesItsAnswerAndRefusesATamperedOne() async throws {
        let hub = try await RunningHub.start(zaz1: true)
        let signer = try await Self.start(keystore: hub.keystore)
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix("8.2_READ_INVENTORY") })
        let before = Timestamp.now().millisecondCounter

        // Sign: the counter becomes the current time in milliseconds.
        let signed = try await Self.call(signer.url + "/sign", ["message": template.bytes.base64EncodedString()])
        #expect(signed.status == 200, "\(signed.object)")
        let signedBytes = try #require(Data(base64Encoded: signed.object["message"] as? String ?? ""))
        let request = try ServiceRequestDocument(try XMLDocument.parse(Array(signedBytes), limits: .duis))
        #expect(request.header.requestID.counter >= before && request.header.requestID.counter <= Timestamp.now().millisecondCounter)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let answer = try await client.post(Array(signedBytes), to: .nonDevice)
        #expect(answer.code == "I0", "\(answer.code ?? "") \(answer.refusal)")

        // preserveCounter keeps the template's counter.
        let preserved = try await Self.call(signer.url + "/sign", ["message": template.bytes.base64EncodedString(), "preserveCounter": true])
        let preservedBytes = try #require(Data(base64Encoded: preserved.object["message"] as? String ?? ""))
        let original = try ServiceRequestDocument(try XMLDocument.parse(Array(template.bytes), limits: .duis)).header.requestID.counter
        #expect(try ServiceRequestDocument(try XMLDocument.parse(Array(preservedBytes), limits: .duis)).header.requestID.counter == original)

        // Verify the hub's signed answer: it comes back without its signature.
        let verified = try await Self.call(signer.url + "/verify", ["message": Data(answer.body).base64EncodedString()])
        #expect(verified.status == 200, "\(verified.object)")
        let unsigned = String(decoding: try #require(Data(base64Encoded: verified.object["message"] as? String ?? "")), as: UTF8.self)
        #expect(unsigned.contains("<sr:ResponseCode>I0</sr:ResponseCode>") && !unsigned.contains("SignatureValue"))
        #expect((verified.object["signer"] as? String)?.contains("role 137") == true, "\(verified.object)")

        // A request verifies with its originator's key; a "response" signed by a user does not.
        let request2 = try await Self.call(signer.url + "/verify", ["message": signedBytes.base64EncodedString()])
        #expect(request2.status == 200 && (request2.object["signer"] as? String)?.hasPrefix("90-B3-D5-1F-30-01-00-00") == true, "\(request2.object)")
        let userKey = try #require(hub.keystore.xmlSigningEntry(for: Provisioning.supplier))
        let forged = try XMLSigner.sign(try XMLDocument.parse(answer.body), key: try #require(userKey.signingKey), signer: userKey.certificate.signerReference)
        let wrong = try await Self.call(signer.url + "/verify", ["message": Data(forged).base64EncodedString()])
        #expect(wrong.status == 400 && wrong.object["errorCode"] as? String == "WrongSigner", "\(wrong.object)")
        // Not JSON by its content type; a Host that is not this machine (DNS rebinding).
        #expect(try await Self.call(signer.url + "/sign", ["message": template.bytes.base64EncodedString()], contentType: "text/plain").status == 415)
        #expect(try await Self.call(signer.url + "/sign", ["message": template.bytes.base64EncodedString()], host: "attacker.example:8080").status == 403)

        // A tampered answer is refused with a JSON error.
        let tampered = answer.text.replacingOccurrences(of: "<sr:ResponseCode>I0</sr:ResponseCode>", with: "<sr:ResponseCode>E1</sr:ResponseCode>")
        #expect(tampered != answer.text)
        let refused = try await Self.call(signer.url + "/verify", ["message": Data(tampered.utf8).base64EncodedString()])
        #expect(refused.status == 400)
        #expect(refused.object["errorCode"] as? String == "InvalidSignature" && !(refused.object["error"] as? String ?? "").isEmpty, "\(refused.object)")

        // No key for the originator; not JSON; not base64; a GET.
        let stranger = String(decoding: template.bytes, as: UTF8.self).replacingOccurrences(of: "90-B3-D5-1F-30-01-00-00:", with: "90-B3-D5-1F-30-0F-00-00:")
        let missing = try await Self.call(signer.url + "/sign", ["message": Data(stranger.utf8).base64EncodedString()])
        #expect(missing.status == 400 && missing.object["errorCode"] as? String == "MissingKey", "\(missing.object)")
        let notBase64 = try await Self.call(signer.url + "/sign", ["message": "***"])
        #expect(notBase64.status == 400 && notBase64.object["error"] != nil)
        let get = try await HTTPClient.shared.execute(HTTPClientRequest(url: signer.url + "/sign"), timeout: .seconds(10))
        #expect(get.status.code == 405)
        await signer.stop()
        await hub.stop()
    }
}
