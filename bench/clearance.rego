# The bench policy of bench/policy.yaml, written as a careful Rego author would: signals indexed
# by asset key in data (so matching costs lookups, not a scan), every number in data.policy.
# Rego has no pow or exp builtin, so the half-life decay 0.5^x is computed by range reduction:
# 0.5^floor(x) as a product, and 2^-f = e^(-f ln 2) for the fraction by a 12-term Taylor series.
package clearance

import rego.v1

hits contains [uid, a.rank] if {
	some a in input.exposure
	some key in a.keys
	some uid in data.by_key[key]
}

closest[uid] := min({rank | some [u, rank] in hits; u == uid}) if some [uid, _] in hits

active[uid] := s if {
	some uid, _ in closest
	s := data.signals[uid]
	s.status in {"open", "in_progress"}
}

contribution[uid] := c if {
	some uid, s in active
	age := max([0, input.now - s.last_seen])
	# Undefined for a kind the policy gives no half-life: not scored, as in Clearance.
	x := age / data.policy.half_lives[s.kind]
	c := ((data.policy.severity_weights[s.kind][s.severity] * s.confidence) * decay(x)) * data.policy.proximity_weights[closest[uid]]
}

decay(x) := 0 if x >= 64

decay(x) := half_power(floor(x)) * exp_neg((x - floor(x)) * 0.6931471805599453) if x < 64

half_power(n) := 1 if n == 0

half_power(n) := product([0.5 | some _ in numbers.range(1, n)]) if n > 0

exp_neg(y) := sum([term(y, k) | some k in numbers.range(0, 12)])

term(_, k) := 1 if k == 0

term(y, k) := product([((0 - y) / i) | some i in numbers.range(1, k)]) if k > 0

score := 100 * (1 - product([(1 - c) | some _, c in contribution]))

critical_near contains uid if {
	some uid, s in active
	s.kind == "detection"
	s.severity >= 5
	closest[uid] <= 1
}

verdict := "block" if {
	score >= data.policy.block
} else := "block" if {
	count(critical_near) > 0
} else := "approve" if {
	score >= data.policy.approve
} else := "proceed"
