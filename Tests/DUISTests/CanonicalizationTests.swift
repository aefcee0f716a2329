import Crypto
import Foundation
import Testing
import TestSupport
@testable import DUIS

@Suite struct CanonicalizationTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func realResponseDigestRecomputes() throws {
        let data = try Reference.file("duis/examples/ECS52_11.2_SUCCESS_RESPONSE_DUIS.XML")
        let document = try XMLDocument.parse([UInt8](data))
        let signature = try EnvelopedSignature.locate(in: document)
        let canonical = try document.canonicalBytes(algorithm: signature.referenceCanonicalization, excluding: signature.element)
        let digest = SHA256.hash(data: canonical)
        #expect(Array(digest) == signature.digestValue)
    }
}
