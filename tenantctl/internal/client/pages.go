package client

// Pages reads a paginated list from pageToken on, page after page, until the server has no
// more or limit (> 0) items were read. fetch asks for one page of at most pageSize items and
// returns them with the next page token. The last next-page token is returned so a caller can
// resume where the limit stopped it.
func Pages[T any](limit, maxPage int, pageToken string, fetch func(pageSize int32, pageToken string) ([]T, string, error)) ([]T, string, error) {
	var all []T
	for {
		size := maxPage
		if limit > 0 {
			size = min(maxPage, limit-len(all))
		}
		items, next, err := fetch(int32(size), pageToken)
		if err != nil {
			return nil, "", err
		}
		all = append(all, items...)
		if next == "" || (limit > 0 && len(all) >= limit) {
			return all, next, nil
		}
		pageToken = next
	}
}
