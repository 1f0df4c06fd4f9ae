#!/bin/sh
# Regenerates the French spoken digits embedded by package captcha:
# fr/0.wav … fr/9.wav, 8 kHz mono 16-bit PCM, silence trimmed at both ends,
# 5 ms fades against clicks, peak-normalised to -1 dBFS, without dither so
# that a run gives the same bytes again.
#
# Needs espeak-ng (voice "fr") and sox, both Debian packages:
#   apt-get install -y --no-install-recommends espeak-ng sox
# Neither the build nor the tests run it: the files it writes are committed.
# Run it from anywhere: sh httpapi/captcha/voice/generate.sh
set -eu

dir=$(cd "$(dirname "$0")" && pwd)/fr
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dir"

i=0
for word in zéro un deux trois quatre cinq six sept huit neuf; do
	espeak-ng -v fr -s 140 -w "$tmp/$i.wav" "$word"
	# silence ... reverse silence ... reverse trims the start, then the end.
	sox -D "$tmp/$i.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/$i-trimmed.wav" \
		silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
	# A second pass: fade needs the trimmed length.
	sox -D "$tmp/$i-trimmed.wav" "$dir/$i.wav" fade 0.005 -0 0.005 gain -n -1
	i=$((i + 1))
done
