package captcha

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The one WAV format read and written here: what telephones carry, and
// small enough to embed.
const (
	sampleRate    = 8000
	bitsPerSample = 16
	wavHeaderLen  = 44
)

// writeWAV encodes samples as a canonical RIFF/WAVE file: a 44-byte header
// (fmt chunk of PCM, mono, 8 kHz, 16 bits) and the data, little-endian.
func writeWAV(samples []int16) []byte {
	dataLen := 2 * len(samples)
	b := make([]byte, wavHeaderLen+dataLen)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+dataLen))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le.PutUint32(b[16:], 16)                         // fmt chunk size
	le.PutUint16(b[20:], 1)                          // PCM
	le.PutUint16(b[22:], 1)                          // channels
	le.PutUint32(b[24:], sampleRate)                 // samples per second
	le.PutUint32(b[28:], sampleRate*bitsPerSample/8) // bytes per second
	le.PutUint16(b[32:], bitsPerSample/8)            // bytes per sample frame
	le.PutUint16(b[34:], bitsPerSample)              // bits per sample
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(dataLen))
	for i, s := range samples {
		le.PutUint16(b[wavHeaderLen+2*i:], uint16(s))
	}
	return b
}

// readWAV decodes a RIFF/WAVE file in the one format of writeWAV. Chunks
// other than fmt and data are skipped, as tools add some (LIST).
func readWAV(b []byte) ([]int16, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	if size := le.Uint32(b[4:]); uint64(size)+8 != uint64(len(b)) {
		return nil, fmt.Errorf("RIFF size %d for a file of %d bytes", size, len(b))
	}
	haveFormat := false
	for rest := b[12:]; len(rest) > 0; {
		if len(rest) < 8 {
			return nil, errors.New("truncated chunk header")
		}
		id, size := string(rest[0:4]), le.Uint32(rest[4:])
		if uint64(size) > uint64(len(rest)-8) {
			return nil, fmt.Errorf("chunk %q of %d bytes overruns the file", id, size)
		}
		body := rest[8 : 8+size]
		rest = rest[8+size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:] // chunks are padded to an even size
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("fmt chunk of %d bytes", size)
			}
			format, channels, rate := le.Uint16(body[0:]), le.Uint16(body[2:]), le.Uint32(body[4:])
			byteRate, align, bits := le.Uint32(body[8:]), le.Uint16(body[12:]), le.Uint16(body[14:])
			if format != 1 || channels != 1 || rate != sampleRate || bits != bitsPerSample ||
				byteRate != sampleRate*bitsPerSample/8 || align != bitsPerSample/8 {
				return nil, fmt.Errorf("format %d, %d channels, %d Hz, %d bits: want PCM (1), mono, %d Hz, %d bits",
					format, channels, rate, bits, sampleRate, bitsPerSample)
			}
			haveFormat = true
		case "data":
			if !haveFormat {
				return nil, errors.New("data chunk before the fmt chunk")
			}
			if size%2 != 0 {
				return nil, fmt.Errorf("data chunk of %d bytes: not whole 16-bit samples", size)
			}
			samples := make([]int16, size/2)
			for i := range samples {
				samples[i] = int16(le.Uint16(body[2*i:]))
			}
			return samples, nil
		}
	}
	return nil, errors.New("no data chunk")
}
