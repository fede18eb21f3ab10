package embedded

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the bbolt file. Every key that holds a number stores it
// big-endian, so bbolt's byte order is the numeric order.
var (
	// eventsBucket maps a sequence number to the event's record.
	eventsBucket = []byte("events")
	// streamsBucket maps streamKey(stream, revision) to a sequence number.
	streamsBucket = []byte("streams")
	// headsBucket maps a stream name to the revision of its last event.
	headsBucket = []byte("heads")
	// idsBucket maps an event id to the event's sequence number.
	idsBucket = []byte("ids")
	// metaBucket holds formatKey.
	metaBucket = []byte("meta")
)

// formatKey in metaBucket stores layoutVersion.
var formatKey = []byte("format")

// layoutVersion identifies the buckets and keys above. Open rejects a file
// written with another version.
const layoutVersion = 1

// maxKeyFieldLength is the longest stream name or event id the store
// accepts, in bytes. A stream key adds at most a 10-byte length prefix and
// an 8-byte revision to the name, and bbolt rejects keys longer than
// bolt.MaxKeySize.
const maxKeyFieldLength = bolt.MaxKeySize - binary.MaxVarintLen64 - 8

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// streamPrefix returns the common prefix of the stream keys of stream. The
// uvarint length in front of the name makes prefixes of different streams
// disjoint, so the keys of one stream are contiguous and in revision order.
func streamPrefix(stream string) []byte {
	key := make([]byte, 0, binary.MaxVarintLen64+len(stream)+8)
	key = binary.AppendUvarint(key, uint64(len(stream)))
	return append(key, stream...)
}

func streamKey(stream string, revision uint64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), revision)
}

// createBuckets creates missing buckets, checks the layout version and
// returns the sequence number of the last stored event, 0 when there is
// none.
func createBuckets(tx *bolt.Tx) (uint64, error) {
	for _, name := range [][]byte{eventsBucket, streamsBucket, headsBucket, idsBucket, metaBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return 0, err
		}
	}

	meta := tx.Bucket(metaBucket)
	stored := meta.Get(formatKey)
	switch {
	case stored == nil:
		if err := meta.Put(formatKey, binary.BigEndian.AppendUint64(nil, layoutVersion)); err != nil {
			return 0, err
		}
	case len(stored) != 8 || binary.BigEndian.Uint64(stored) != layoutVersion:
		return 0, fmt.Errorf("file layout version %x is not supported; this build reads version %d", stored, layoutVersion)
	}

	last, _ := tx.Bucket(eventsBucket).Cursor().Last()
	if last == nil {
		return 0, nil
	}
	return binary.BigEndian.Uint64(last), nil
}
