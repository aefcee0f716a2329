import DUIS
import Storage
import Testing
@testable import Hub

/// The inventory finds devices by MPxN through an index, kept true through every change,
/// and counts each party's pending devices (issue 8: lookups by MPAN cost the same however
/// many devices a user pre-notifies, and how many it may keep pending is bounded).
@Suite struct InventoryIndexTests {
    @Test func lookupsByMPxNFollowEveryChange() {
        let inventory = makeInventory()
        #expect(inventory.premises(mpxn: "1312345678111")?.id == 1)
        #expect(inventory.devices(mpxn: "1312345678111").map(\.eui) == [esme])
        // A meter moves to another MPAN; a new device takes the old one as its export MPAN.
        var moved = inventory.device(esme)!
        moved.importMPxN = "1312345678999"
        let newcomer = DeviceRecord(eui: EUI64(0x00DB_0000_0000_0001), type: .esme, status: .pending, premises: nil, manufacturer: "M", model: "E",
                                    exportMPAN: "1312345678111", notifiedBy: supplier)
        inventory.apply([.putDevice(moved), .putDevice(newcomer)])
        #expect(inventory.devices(mpxn: "1312345678999").map(\.eui) == [esme])
        #expect(inventory.devices(mpxn: "1312345678111").map(\.eui) == [newcomer.eui])
        #expect(inventory.premises(mpxn: "1312345678111") == nil, "the newcomer is at no premises")
        #expect(inventory.pendingDevices(notifiedBy: supplier) == 1)
        inventory.apply([.deleteDevice(newcomer.eui)])
        #expect(inventory.devices(mpxn: "1312345678111").isEmpty)
        #expect(inventory.pendingDevices(notifiedBy: supplier) == 0)
    }
}
