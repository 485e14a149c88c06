import { createClient } from "@connectrpc/connect";
import { LocationService } from "./gen/atrium/catalog/v1/catalog_pb";
import { transport } from "./api";

// Imported only by the lazily loaded Locations pages.
export const locationClient = createClient(LocationService, transport);
