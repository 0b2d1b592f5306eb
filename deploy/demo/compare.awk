# SPDX-License-Identifier: MIT
# The demo's comparison: hare-sim's jobs.csv (profile seconds) against
# `harectl queue --all -o json` (unix seconds, times `scale`), joined by
# job name. Usage: awk -v scale=S -f compare.awk jobs.csv queue.json
# Prints sections SUMMARY..END and JOBS..END, then "ERROR <percent>" and
# "LINE weighted JCT: measured X s, simulated Y s, error Z%".

# The value of "key" in one JSON object on one line (numbers and plain
# strings; the first occurrence, which for these keys is the job's own).
function jget(line, key,    i, s) {
	i = index(line, "\"" key "\":")
	if (i == 0)
		return ""
	s = substr(line, i + length(key) + 3)
	if (substr(s, 1, 1) == "\"") {
		s = substr(s, 2)
		return substr(s, 1, index(s, "\"") - 1)
	}
	match(s, /^[-+0-9.eE]+/)
	return substr(s, 1, RLENGTH)
}

function pct(m, s) {
	return s > 0 ? (m - s) / s * 100 : 0
}

BEGIN { FS = "," }

FILENAME == ARGV[1] && FNR == 1 {
	for (i = 1; i <= NF; i++)
		c[$i] = i
	next
}

FILENAME == ARGV[1] {
	n = $c["name"]
	names[++njobs] = n
	s_arr[n] = $c["arrival_s"]; s_start[n] = $c["start_s"]; s_fin[n] = $c["finish_s"]
	s_jct[n] = $c["jct_s"]; s_w[n] = $c["weight"]; s_rst[n] = $c["restarts"]
	s_model[n] = $c["model"]; s_tasks[n] = $c["tasks"]
	next
}

/"job_id":/ {
	n = jget($0, "name")
	m_state[n] = jget($0, "state")
	m_sub[n] = jget($0, "submit_time"); m_start[n] = jget($0, "start_time")
	m_fin[n] = jget($0, "finish_time"); m_rst[n] = jget($0, "restarts") + 0
	m_w[n] = jget($0, "weight")
	if (t0 == "" || m_sub[n] < t0)
		t0 = m_sub[n]
}

END {
	for (k = 1; k <= njobs; k++) {
		n = names[k]
		if (m_state[n] != "DONE") {
			printf "compare.awk: job %s is %s\n", n, m_state[n] ? m_state[n] : "missing" > "/dev/stderr"
			bad = 1
			continue
		}
		mj = (m_fin[n] - m_sub[n]) * scale
		m_jct[n] = mj
		sw += s_w[n]; swj += s_w[n] * s_jct[n]; sj += s_jct[n]
		mwj += s_w[n] * mj; mjs += mj
		sq += s_start[n] - s_arr[n]; mq += (m_start[n] - m_sub[n]) * scale
		if (s_fin[n] > smk) smk = s_fin[n]
		if (s_arr[n] < sa || k == 1) sa = s_arr[n]
		if ((m_fin[n] - t0) * scale > mmk) mmk = (m_fin[n] - t0) * scale
		srst += s_rst[n]; mrst += m_rst[n]
	}
	if (bad || njobs == 0)
		exit 1
	swjct = swj / sw; mwjct = mwj / sw
	print "SUMMARY"
	printf "  %-24s %12s %12s %9s\n", "", "measured", "simulated", "diff"
	printf "  %-24s %12.0f %12.0f %+8.1f%%\n", "weighted JCT (s)", mwjct, swjct, pct(mwjct, swjct)
	printf "  %-24s %12.0f %12.0f %+8.1f%%\n", "average JCT (s)", mjs / njobs, sj / njobs,
	       pct(mjs / njobs, sj / njobs)
	printf "  %-24s %12.0f %12.0f %+8.1f%%\n", "makespan (s)", mmk, smk - sa, pct(mmk, smk - sa)
	printf "  %-24s %12.0f %12.0f\n", "average queueing (s)", mq / njobs, sq / njobs
	printf "  %-24s %12d %12d\n", "lease restarts", mrst, srst
	print "END"
	print "JOBS"
	printf "  %-6s %-14s %5s %3s | %9s %9s %4s | %9s %9s %4s | %7s\n", "job", "model", "tasks", "w",
	       "sim start", "sim JCT", "rst", "run start", "run JCT", "rst", "JCT diff"
	for (k = 1; k <= njobs; k++) {
		n = names[k]
		printf "  %-6s %-14s %5d %3d | %9.0f %9.0f %4d | %9.0f %9.0f %4d | %+6.1f%%\n", n,
		       s_model[n], s_tasks[n], s_w[n], s_start[n], s_jct[n], s_rst[n],
		       (m_start[n] - t0) * scale, m_jct[n], m_rst[n], pct(m_jct[n], s_jct[n])
		# least squares of the extra wall time on the measured restarts
		x = m_rst[n]; y = (m_jct[n] - s_jct[n]) / scale
		lx += x; ly += y; lxx += x * x; lxy += x * y
	}
	d = njobs * lxx - lx * lx
	if (d > 0)
		printf "  measured - simulated JCT, in wall time: %.2f s per job + %.3f s per " \
		       "restart (least squares)\n", (ly - (njobs * lxy - lx * ly) / d * lx) / njobs,
		       (njobs * lxy - lx * ly) / d
	print "END"
	e = pct(mwjct, swjct)
	printf "ERROR %.2f\n", e < 0 ? -e : e
	printf "LINE weighted JCT: measured %.0f s, simulated %.0f s, error %.1f%%\n", mwjct, swjct,
	       e < 0 ? -e : e
}
