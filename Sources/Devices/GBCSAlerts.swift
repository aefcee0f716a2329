import DUIS
import GBCS

/// Device alerts in GBCS (to be written).
enum GBCSAlertsModule {}
