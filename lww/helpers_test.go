package lww

import "github.com/trigsync/trigsync/hlc"

func hlcOf(h uint64) hlc.Timestamp { return hlc.Timestamp(h) }
