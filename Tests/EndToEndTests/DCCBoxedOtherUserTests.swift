import DUIS
import Foundation
import Hub
import Storage
import Testing
import TestSupport

/// DCC Boxed's other user, 00-DB-12-34-56-78-00-04, with its own ZAZ1 key: the other-user
/// flow of the reference data end to end (CIN, consent, read, withdrawal).
@Suite(.serialized) struct DCCBoxedOtherUserTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func theOtherUserReadsWithTheConsumersConsentAndNotWithout() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url)
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let ou = EUI64(0x00DB_1234_5678_0004)
        #expect(hub.keystore.xmlSigningEntry(for: ou)?.signingKey != nil, "signed with ZAZ1's own key for the other user")
        let meter = EUI64(0x00DB_1234_5678_90A0)
        func gbsm(_ arguments: [String]) throws -> ToolResult { try Tool.run(binary.path, arguments + hub.dataArguments) }
        func send(_ xml: String) async throws -> (String, DUISClient.Answer) {
            let signed = try client.sign(xml, counter: Counters.next())
            return (try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description, try await client.post(signed, to: .sendCommand))
        }
        func read(_ xml: String) async throws -> DUISMessage {
            let (id, answer) = try await send(xml)
            #expect(answer.code == "I99", "\(answer.code ?? "?"): \(answer.reason ?? "")")
            return try #require(await waitForResponses(receiver, requestIDs: [id])[id])
        }
        let today = Timestamp.now().day.start
        let profile = requestXML(originator: ou, target: meter, commandVariant: "1", srv: "4.8.1", body: """
            <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(today.adding(days: -1).iso8601)</sr:StartDateTime>\
            <sr:EndDateTime>\(today.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
            """)

        // The default premises' standing consent withdrawn: the other user is refused.
        let withdrawn = try gbsm(["consent", "withdraw", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services"])
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        #expect(try await send(profile).1.code == "E4")
        // 9.1: the IHD shows a CIN; the consumer's consent is recorded with it; the read is answered.
        let cinAnswer = try await read(requestXML(originator: ou, target: meter, commandVariant: "1", srv: "9.1", body: "<sr:RequestCustomerIdentificationNumber/>"))
        let cin = try #require(cinAnswer.customerIdentificationNumber)
        let granted = try gbsm(["consent", "grant", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services",
                                "--granularity", "half-hourly", "--cin", cin])
        #expect(granted.status == 0, "\(granted.stderr)")
        let answered = try await read(profile)
        #expect(answered.code == "I0" && answered.values("PrimaryValue").count >= 48)
        // Withdrawn again: refused.
        #expect(try gbsm(["consent", "withdraw", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services"]).status == 0)
        #expect(try await send(profile).1.code == "E4")
        await hub.stop()
        await receiver.stop()
    }
}
