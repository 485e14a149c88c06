package registry

// Plugin ids. Other services and the proto access options use these exact strings.
const (
	Catalog        = "catalog"
	CatalogSources = "catalog-sources"
	Search         = "search"
	Insights       = "insights"
	Scorecards     = "scorecards"
	Assistant      = "assistant"
	FeatureFlags   = "feature-flags"
)

// defaultPlugins is the registry Atrium ships. Schemas are strict (additionalProperties
// false) so a typo in a config key is an error the admin sees, not a setting silently ignored.
func defaultPlugins() []Plugin {
	return []Plugin{
		{
			ID: Catalog, Name: "Software Catalog", Tier: TierFree, Category: "catalog",
			Summary:       "Every component, API, system and team in one Backstage-compatible catalog.",
			Description:   "The heart of the portal: entities in Backstage's format, search by filter and full text, relations between them. Always installed.",
			RequiredPlan:  "free",
			AlwaysOn:      true,
			GatedServices: []string{"atrium.catalog.v1.CatalogService"},
		},
		{
			ID: CatalogSources, Name: "Catalog Sources", Tier: TierFree, Category: "catalog",
			Summary:      "Register Git repositories and URLs; the catalog refreshes from them.",
			Description:  "Backstage Locations: the catalog fetches catalog-info.yaml from Git over HTTPS on a schedule and on push webhooks, and marks entities that disappear as orphans.",
			RequiredPlan: "free",
			Dependencies: []string{Catalog},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"properties": {
					"refresh_interval_minutes": {"type": "integer", "minimum": 5, "maximum": 1440, "default": 30,
						"title": "Refresh interval (minutes)"},
					"allowed_hosts": {"type": "array", "maxItems": 50, "uniqueItems": true, "default": [],
						"title": "Allowed Git hosts",
						"items": {"type": "string", "pattern": "^[a-z0-9.-]+(:[0-9]+)?$", "maxLength": 253}}
				}
			}`,
			GatedServices: []string{"atrium.catalog.v1.LocationService"},
		},
		{
			ID: Search, Name: "Search", Tier: TierFree, Category: "discovery",
			Summary:      "Find anything in the catalog from one search box.",
			Description:  "Full-text search over names, titles, descriptions and tags, ranked, with facets.",
			RequiredPlan: "free",
			Dependencies: []string{Catalog},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"properties": {
					"default_page_size": {"type": "integer", "minimum": 5, "maximum": 100, "default": 25,
						"title": "Results per page"},
					"boost_owned": {"type": "boolean", "default": true,
						"title": "Rank entities my teams own first"}
				}
			}`,
		},
		{
			ID: Insights, Name: "Insights", Tier: TierPremium, Category: "analytics",
			Summary:      "Who uses the portal and what they look at: active users, adoption, top entities, searches.",
			Description:  "Page views, searches and API calls rolled up per day; retention as long as the plan allows.",
			RequiredPlan: "team",
			Dependencies: []string{Catalog},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"properties": {
					"track_page_views": {"type": "boolean", "default": true, "title": "Track page views"},
					"exclude_paths": {"type": "array", "maxItems": 100, "default": [],
						"title": "Paths not tracked",
						"items": {"type": "string", "pattern": "^/", "maxLength": 200}},
					"retention_days": {"type": "integer", "minimum": 1, "maximum": 730, "default": 90,
						"title": "Keep raw events (days)"}
				}
			}`,
			GatedServices: []string{"atrium.insights.v1.InsightsService"},
		},
		{
			ID: Scorecards, Name: "Scorecards", Tier: TierPremium, Category: "quality",
			Summary:      "Grade components against your standards: ownership, docs, on-call, freshness.",
			Description:  "Checks run over catalog entities and their sources; each component gets a score per scorecard.",
			RequiredPlan: "team",
			Dependencies: []string{Catalog, CatalogSources},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"required": ["checks"],
				"properties": {
					"checks": {"type": "array", "minItems": 1, "maxItems": 50,
						"default": [{"id": "has-owner", "weight": 50}, {"id": "has-docs", "weight": 50}],
						"title": "Checks",
						"items": {"type": "object", "additionalProperties": false, "required": ["id", "weight"],
							"properties": {
								"id": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$", "title": "Check id"},
								"weight": {"type": "integer", "minimum": 1, "maximum": 100, "title": "Weight"}
							}}}
				}
			}`,
			GatedServices: []string{"atrium.scorecards.v1.ScorecardService"},
		},
		{
			ID: Assistant, Name: "Assistant", Tier: TierPremium, Category: "ai",
			Summary:      "Ask the portal in plain words; answers cite catalog entities and docs.",
			Description:  "A chat assistant grounded in the tenant's catalog and search index.",
			RequiredPlan: "enterprise",
			Dependencies: []string{Catalog, Search},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"properties": {
					"model": {"type": "string", "enum": ["small", "large"], "default": "small", "title": "Model"},
					"max_answer_tokens": {"type": "integer", "minimum": 64, "maximum": 4096, "default": 512,
						"title": "Longest answer (tokens)"}
				}
			}`,
			GatedServices: []string{"atrium.assistant.v1.AssistantService"},
		},
		{
			ID: FeatureFlags, Name: "Feature Flags", Tier: TierPremium, Category: "delivery",
			Summary:      "Flags per component and environment, with targeting and audit.",
			Description:  "Create flags on catalog components, target them by environment or group, and see every change in the audit log.",
			RequiredPlan: "enterprise",
			Dependencies: []string{Catalog},
			ConfigSchema: `{
				"type": "object",
				"additionalProperties": false,
				"properties": {
					"environments": {"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": true,
						"default": ["development", "production"], "title": "Environments",
						"items": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,30}$"}},
					"require_approval": {"type": "boolean", "default": false, "title": "Production changes need approval"}
				}
			}`,
			GatedServices: []string{"atrium.featureflags.v1.FeatureFlagService"},
		},
	}
}
