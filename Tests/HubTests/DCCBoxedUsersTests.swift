import DUIS
import Foundation
import Hub
import SMKI
import Testing
import TestSupport

/// DCC Boxed's users come from its ZAZ1 keystore, not from a list.
@Suite struct DCCBoxedUsersTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func theKeystoreDefinesTheUsers() throws {
        let keystore = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"), source: "zaz1-keystore.json")
        let users = Dictionary(uniqueKeysWithValues: Provisioning.users(from: keystore).map { ($0.eui, $0) })
        // Every user signs with its own role 135 key: the other user is …-78-00-04.
        let other = try #require(users[EUI64(0x00DB_1234_5678_0004)], "DCC Boxed's other user")
        #expect(other.roles == [.ou] && other.gbcsRole == RemotePartyRole.otherUser)
        #expect(Provisioning.otherUser == other.eui)
        #expect(users[EUI64(0x00DB_1234_5678_9004)] == nil, "the EUI of the earlier issue has no key")
        #expect(users[Provisioning.supplier]?.roles == [.is, .es, .gs, .ou])
        #expect(users[Provisioning.networkOperator]?.roles == [.ed, .gt])
        #expect(users[Provisioning.dccEUI]?.roles == [.dcc])
        // The second supplier has GBCS certificates but no XML-signing key in ZAZ1: no user.
        #expect(users[Provisioning.secondSupplier] == nil)
        for user in users.values { #expect(keystore.xmlSigningEntry(for: user.eui)?.signingKey != nil, "\(user.eui) can sign") }
        #expect(users.count == 4)
    }
}
