"""Generate a synthetic creator archive of a chosen size with a known persona share.

    python bench/synth_archive.py OUT_DIR --segments 5000 --persona-share 0.02 --seed 0

The dataset pipeline's cost depends on what the archive looks like, not only on its size: rolling
auto-captions triple the text ingest and clean read, repeated sentences would be deleted by the
near-duplicate pass (and make a big archive look small), and the persona share decides how much
the label stage embeds. So this writes what a real channel's export looks like, at any size:

    OUT_DIR/creator/videos/*.en.vtt   YouTube auto-captions (rolling lines, inline word timings)
    OUT_DIR/creator/videos/*.en.srt   hand-made captions, punctuated, two-line cues
    OUT_DIR/creator/videos/*.txt      lower-case, unpunctuated caption text, one line per ~12 words
    OUT_DIR/creator/videos/*.json     youtube-transcript-api rows {text, start, duration}
    OUT_DIR/creator/blog/*.md         blog posts with YAML front matter, headings and lists
    OUT_DIR/gold_labels.jsonl         every persona passage: {"source", "subtype", "text"}
    OUT_DIR/manifest.json             what was asked for and what was written

Instructional speech is composed from combinatorial grammars over tool, material, part and step
vocabularies with random measurements, varied determiners and spoken synonyms, and no sentence is
written twice, so near-duplicate removal keeps it. Template wording still recurs more than in
hand-written text: two random 60-word passages share their rarest word 3-gram (what the clean
stage's MinHash buckets on) with probability ~0.0025 here, ~0.0006 in examples/creator. Spoken
files get fillers, stutters, sponsor reads and outros, which the clean stage is meant to remove.
Persona passages (biography, opinions, working habits, stories, values) are inserted as asides
between paragraphs until they make up `persona_share` of the content words.

A "segment" is ~101 words of content (what the chunk stage's ~140-token target yields on this
text), and each file holds about 12 segments' worth. Output is deterministic for a seed; only the
standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from render_example import rolling_vtt  # noqa: E402  (the one YouTube caption writer)
from render_example import ts as timestamp  # noqa: E402

# Content words per requested segment. The chunk stage aims at 140 tokens (~105 words) but packs
# whole sentences greedily below that target: on this text it averages ~102 words (median ~127
# tokens), so 101 words per segment makes `--segments N` come out at about N segments.
WORDS_PER_SEGMENT = 101
SEGMENTS_PER_FILE = 12
FORMAT_WEIGHTS = {"vtt": 30, "srt": 22, "json": 20, "txt": 18, "md": 10}
EXTENSIONS = {"vtt": ".en.vtt", "srt": ".en.srt", "json": ".json", "txt": ".txt", "md": ".md"}
WORDS_PER_SECOND = 2.6

# ---------------------------------------------------------------- vocabularies

TOOLS = """table saw|bandsaw|jointer|thickness planer|router table|plunge router|trim router|drill press|
track saw|miter saw|scroll saw|lathe|spindle sander|random orbit sander|belt sander|jack plane|smoothing plane|
block plane|jointer plane|shoulder plane|router plane|rabbet plane|spokeshave|card scraper|cabinet scraper|
bench chisel|mortise chisel|paring chisel|skew chisel|dovetail saw|carcass saw|tenon saw|rip saw|crosscut saw|
coping saw|flush-cut saw|marking gauge|cutting gauge|mortise gauge|marking knife|combination square|
engineer's square|sliding bevel|story stick|dial caliper|straightedge|pair of winding sticks|bar clamp|
parallel clamp|F-style clamp|pipe clamp|band clamp|spring clamp|dowel jig|pocket hole jig|biscuit joiner|
Forstner bit|brad point bit|countersink bit|spiral upcut bit|flush-trim bit|chamfer bit|roundover bit|
dado stack|crosscut sled|tapering jig|featherboard|push block|moisture meter|honing guide|diamond plate|
leather strop|burnisher|joiner's mallet|cabinet rasp|mill file|shop vacuum|cyclone separator|bowl gouge|
spindle gouge|parting tool|hook knife|sloyd knife|drawknife|shaving horse|holdfast|bench hook|shooting board|
planing stop|glue roller|cabinet scraper|veneer saw|edge trimmer|countersink|bevel gauge|digital angle gauge|
dial indicator|feeler gauge|plug cutter|doweling plate|mortising jig|circle jig|edge guide|bushing set""".split("|")
SPECIES = """white oak|red oak|black walnut|cherry|hard maple|soft maple|ash|hickory|poplar|yellow birch|beech|
sapele|mahogany|teak|western red cedar|Douglas fir|southern yellow pine|white pine|spruce|red alder|basswood|
butternut|elm|sycamore|padauk|purpleheart|wenge|zebrawood|bubinga|jatoba|ipe|osage orange|Baltic birch plywood|
MDF|maple plywood|construction lumber|quartersawn oak|curly maple|spalted maple|white ash|black locust|
honey locust|cypress|larch|hemlock|sassafras|mesquite|claro walnut|live edge walnut|reclaimed barn wood""".split("|")
PARTS = """drawer front|drawer side|tenon cheek|tenon shoulder|mortise wall|apron|leg|stretcher|rail|stile|panel|
tabletop|breadboard end|edge banding|face frame|carcass side|shelf|back panel|lid|base|plinth|French cleat|
drawer runner|kicker|spline|dowel|pin board|tail board|miter joint|rabbet|dado|groove|chamfer|bevel|end grain|
edge grain|face grain|reference face|reference edge|glue line|corner block|foot|seat|spindle|arm|crest rail|
back splat|bowl blank|spoon blank|handle|knob|hinge mortise|lock rail|mullion|muntin|frame|slat|toe kick|
valance|web frame|dust panel|cabinet door|door stop|drawer bottom|top rail|bottom rail|shelf pin hole|
pocket hole|plug|keyhole slot|cleat|ledger|bench dog hole|vise chop|leg vise|tool tray|lid stay""".split("|")
PROJECTS = """bookcase|blanket chest|side table|hall table|coffee table|dining table|workbench|tool chest|
wall cabinet|jewelry box|cutting board|serving tray|step stool|shop stool|garden bench|nightstand|dresser|
picture frame|mirror frame|spice rack|planter box|Adirondack chair|bed frame|writing desk|shoe rack|coat rack|
bread box|knife block|wine rack|record cabinet|sewing box|kitchen island|pot rack|entry bench|sideboard|
chest of drawers|rocking chair|toy box|bird house|magazine rack|lap desk|display case|clock case|bowl|spoon|
mallet|tool tote|wall shelf|plant stand|bathroom vanity|medicine cabinet|jewelry armoire|dog bed frame""".split("|")
ACTIONS = """mark|cut|pare|plane|sand|clamp|glue|drill|rout|chamfer|scribe|measure|square up|flatten|trim|
rip|crosscut|resaw|joint|bevel|ease|round over|dry fit|test fit|knock apart|tap home|chop|saw|split|rive|
shave|scrape|burnish|file|rasp|hone|strop|fair|flush|level|shim|wedge|pin|peg|bore|countersink|plug|
spline|band|veneer|stain|dye|oil|wax|seal|buff""".split("|")
ADJECTIVES = """tight|snug|loose|square|flat|true|crisp|clean|fuzzy|proud|shy|slightly proud|dead flush|
a hair proud|a touch loose|out of square|cupped|bowed|twisted|crooked|burnished|blotchy|glassy|
tacky|bone dry|damp|sticky|chalky""".split("|")
FINISHES = """hard wax oil|boiled linseed oil|tung oil|Danish oil|shellac|dewaxed shellac|wiping varnish|
oil-based polyurethane|water-based polyurethane|lacquer|paste wax|milk paint|General Finishes Arm-R-Seal|
spar varnish|food-safe mineral oil|beeswax and oil blend|dye stain|gel stain|grain filler|sanding sealer""".split("|")
GLUES = """yellow glue|Titebond III|liquid hide glue|hot hide glue|epoxy|five-minute epoxy|polyurethane glue|
CA glue|plastic resin glue|PVA""".split("|")
PLACES = """Duluth|Bayfield|Marquette|Eau Claire|Thunder Bay|Green Bay|Fargo|Rochester|Sault Ste. Marie|
Traverse City|a small town in Vermont|the outskirts of Pittsburgh|a farm outside Madison|rural Ohio|
the Upper Peninsula|Portland, Maine|Asheville|Boise|Spokane|Halifax|Kingston|a fishing village in Norway|
Gdansk|Krakow|Hamburg|a suburb of Chicago|Des Moines|Sioux Falls|Missoula|Bozeman|Burlington|Ithaca|
Ann Arbor|a lake town in northern Minnesota|coastal Oregon|the Hudson Valley|Tulsa|Knoxville|Lancaster County|
a mill town in New Hampshire|Winnipeg|Regina|Cork|Galway|Tasmania|Dunedin|Gothenburg|Tampere""".split("|")
RELATIVES = """my dad|my father|my mom|my mother|my grandfather|my grandmother|my grandpa|my grandma|my uncle|
my aunt|my older brother|my older sister|my stepdad|my godfather|my parents|my family""".split("|")
JOBS = """boat builder|cabinetmaker|carpenter|electrician|machinist|furniture restorer|millwright|shop teacher|
timber framer|luthier|sawmill operator|pattern maker|finish carpenter|stair builder|contractor|welder""".split("|")
WORKPLACES = """boatyard|cabinet shop|sawmill|furniture restoration shop|timber frame company|guitar repair shop|
lumber yard|kitchen installer|millwork shop|hardware store|theater scene shop|pattern shop|door factory|
stair company|window restoration business""".split("|")
FIELDS = """mechanical engineering|art history|biology|graphic design|accounting|architecture|forestry|
computer science|philosophy|chemistry|music|nursing""".split("|")
BRANDS = """Sawdust Supply Co|GrainLine|TimberBox|ShopMate Tools|Planeworks|EdgeCraft|Clampdown|Woodwise|
Benchmark Hardware|Joinery Club|CutList Pro|Arbor Apparel""".split("|")
NAMES = """Arne|Henryk|Walt|Dorothy|Frank|Ingrid|Sal|Marguerite|Otto|Luis|Ruth|Gus|Mabel|Teodor|Bill|Elena|
Tomasz|Hank|Jean|Vic""".split("|")
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday".split("|")
SHOP_SPACES = ["our old garage", "a converted barn", "a rented unit ten minutes away", "a one-car garage",
               "the basement", "an old dairy barn", "a shipping container", "half of the garage"]
SEASONS = ["winter", "summer", "spring", "fall", "January", "July", "November"]
# Determiners in front of parts and tools: "the apron" everywhere would make every block share
# the same word 3-grams, which real speech does not.
DETERMINERS = ["the"] * 8 + """that|this|your|each|the left|the right|the front|the back|the top|the bottom|the inside|
the outside|the first|the second|the last|the long|the short|the upper|the lower|the mating|the matching|the other|
the next|the wider|the narrow|the thicker|the thin|the rough|the finished|the test|the spare|every|one|my|our|
the outer|the inner|the center|the middle|the rear|this second|that last|the lefthand|the righthand""".split("|")
TOOL_DETERMINERS = ["the"] * 8 + """your|my|a|that|this|the old|the new|a sharp|a cheap|a good|the big|the small|
a decent|the shop|our|the little|a freshly tuned|the borrowed|a secondhand|the cordless|the benchtop|
a basic|a vintage|the spare""".split("|")
PLURAL_DETERMINERS = ["the"] * 6 + """all the|both|these|those|your|the remaining|the other|all {count}|the first two|
the long|the short|the matching|a few|most of the|the last|the inside|the outside|my""".split("|")
_DETERMINED = re.compile(r"\bthe \{(part2?|tool2?|parts2?)\}")
_DETERMINER_SLOT = {"part": "det", "part2": "det", "tool": "tool_det", "tool2": "tool_det", "parts": "plural_det",
                    "parts2": "plural_det"}


def vary_determiners(template: str) -> str:
    """'the {part}' -> '{det} {part}', so the article is drawn like any other slot."""
    return _DETERMINED.sub(lambda m: f"{{{_DETERMINER_SLOT[m.group(1)]}}} {{{m.group(1)}}}", template)


NUMBER_WORDS = """two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty""".split("|")


def _words(items: list[str]) -> list[str]:
    return [" ".join(item.split()) for item in items if item.strip()]


TOOLS, SPECIES, PARTS, PROJECTS, ACTIONS = map(_words, (TOOLS, SPECIES, PARTS, PROJECTS, ACTIONS))
ADJECTIVES, FINISHES, GLUES, PLACES = map(_words, (ADJECTIVES, FINISHES, GLUES, PLACES))
RELATIVES, JOBS, WORKPLACES, FIELDS, BRANDS, NAMES = map(_words, (RELATIVES, JOBS, WORKPLACES, FIELDS,
                                                                   BRANDS, NAMES))

# ---------------------------------------------------------------- grammars
# One template a line. {slot} is a vocabulary word, a random measurement or another rule;
# [a|b|c] picks one alternative (alternatives nest and may hold slots).

INSTRUCTION = r"""
set the {tool} to {len} and [make|take] [the first|a test] cut on [a scrap of {species}|an offcut|the {part}] [before you commit|first|with the good face up]
clamp the {part} to the bench with a {tool} and [check it for square|sight down the {part2}] [with|against] the {tool2}
mark the {part} [at|to] {len} from the {part2} with a {tool}, [then|and] [knife the line|deepen the line|go over it with a pencil]
{act} the {part} until it's {adj}, [then|and then] [check it against|compare it to] the {part2}
[use|grab|reach for] the {tool} to {act} the {part}[, and keep|, keeping] [your|the] [feed|stroke] [slow|steady|even] [through the end grain|near the {part2}|at the corners]
you want the {part} to be {adj} [here|at this stage|before glue-up], [so|and] [take|make] [light|a couple of light|full-length] passes with the {tool}
sand the {part} [up through|to] {grit} grit, [then|and] [raise the grain with a damp rag|knock it back with {grit2}|switch to a hand block]
[drill|bore] a {mm} [hole|pilot hole|counterbore] [about|roughly|exactly] {len} deep in the {part} with a {tool}
the {tool} [should be set|needs to be] at {deg} [for this|for the {part}|or the {part2} won't seat]
on {species} I [run|set] the {power_tool} at [about|around] {rpm} rpm[, any faster and it burns| so it doesn't scorch| and take light passes]
let the {glue} [cure|set up] for [at least|about|a full] {mins} minutes before you [take the clamps off|unclamp|{act} the {part}]
{glue} gives you [about|roughly] {mins} minutes of open time[, so have every clamp ready|, so dry fit first| at {temp} degrees]
[apply|wipe on|brush on] a thin coat of {finish}, wait {mins} minutes, [and wipe off the excess|then buff it|then scuff it with {grit} grit]
[check|measure] the moisture content[ of the {species}| of that board| again]; [it should be|you want] [between|around] {pct} and {pct2} percent
[lay out|mark out] the {part} with a {tool}[ and a sharp pencil| and a knife|], [working|measuring] off the {part2}
[hold|keep] the {tool} [at|around] {deg} [to the {part}|off vertical] and [take|make] a [series of|few|couple of] [light|shallow|slicing] cuts
if the {part} is {adj}, [shim it with|back it up with|tap it with] [a scrap of {species}|a {tool}|a card] [until it sits|and check it again]
[cut|rip] the {part} [a hair|about {mm}|a little] [oversize|wide|long] and [plane|trim|sand] it to final [width|length|thickness] [later|after the glue-up|once it's acclimated]
[line up|register] the {tool} [against|on] the {part} and [take|make] [a single|one] [pass|cut|plunge] [at|no deeper than] {mm}
[flip|rotate|turn] the {part} end for end and [repeat the cut|make the same cut|do the other side], [so any error cancels out|keeping the same face against the fence|so both sides match]
[put|spread] a thin, even [bead|film] of {glue} on [both|each] {part}[, not too much,| and] [let it tack for a minute|wipe the squeeze-out when it skins over|clamp it up]
[you'll|you will] [need|want] about {count} clamps for a {project} this size, [spaced|placed] [every|about every] {len}
[check|test] the {part} for square by measuring the diagonals; [they should match within|aim for] {small}
[chop|pare] the {part} [halfway|about {mm}] from [one side|each face], then [flip it and meet in the middle|work back to the line]
[a|one] {tool} [pass|stroke] on the {part} should leave a [shaving|ribbon] about {thou} thousandths thick
[start|begin] the [cut|groove|dado] on the [waste side|far side] of the [line|knife wall] and [creep up|work back] to it with the {tool}
[don't|never] force the {tool} through {species}; [let the|the] [blade|bit|iron] [do the work|set the pace] and [keep your hands clear|watch the {part}]
[a|the] {project} [needs|wants] [a|the] {part} that's {len} [wide|long|thick] [if you follow the plans|for the proportions to work|in {species}]
[set|lock] the fence {len} from the blade, [then|and] [rip|cut] all the {parts} [in one session|at that setting|before you move it]
[test|try] the {finish} on [an offcut|a scrap] of the same {species} [first|before the {part}], because [the color shifts|it can blotch|end grain drinks it up]
[cut|saw] the {part} to length on the {tool}[ with a stop block|, using a stop block set at {len}|]
once the {part} is {adj}, [glue|fit|screw] on the {part2} and [check|confirm] [it|the assembly] with the {tool}
[plane|joint] the {part} [with the grain|downhill] so the fibers [get pressed down|lie flat|don't lift], [then|and] [check|sight] it [with the {tool}|against the light]
[mark|number] every {part} [with a cabinetmaker's triangle|in pencil|with painter's tape] so [they go back|it goes back] in the same [order|orientation|spot]
[a|the] {tool} [cuts|leaves] [a|the] [kerf|slot|groove] about {mm} wide, so [account for|subtract|add] that when [you lay out|you mark|you set] the {part}
[wait|give it] {hours} hours [between coats|before handling it|before the next step] [in a warm shop|at {temp} degrees|if it's humid]
[drive|set] {count} [screws|nails|pins|dowels] [through|into] the {part}, [about|roughly] {len} apart, [after you predrill|with glue|without glue]
[ease|break] the edges of the {part} with a [few strokes of the {tool}|{grit} grit block|{mm} roundover], [so they don't chip|so the finish doesn't thin out|because they get handled]
for a {project}, I [usually|normally|tend to] [use|pick|go with] {species} [for the {part}|because it's stable|if the budget allows]
you can [also|even] [use|try] a {tool} [here|for the {part}|instead of a {tool2}], [it's just slower|it just takes longer|if that's what you have]
[scribe|transfer] the [shape|profile|line] of the {part} [onto|to] the {part2} [with a {tool}|with dividers|using a pencil on a washer]
the [depth|width|height] of the {part} [should be|comes out to|ends up at] {len}[, about a third of the stock|, which leaves enough for the {part2}|]
[rout|cut] the {part} in [two|three|several] [passes|steps], [about|no more than] {mm} [each|a pass], [climbing|moving] [left to right|against the rotation of the bit]
[wax|clean] the [top|bed|fence] of the {tool} so the {part} [slides|glides|moves] [smoothly|without chatter|without catching]
[cut|make] the [shoulders|cheeks|baseline] first with the {tool}, [then|and then] [remove the waste|clean up] with a {tool2}
[if|when] the {part} [rocks|wobbles|doesn't sit flat], [plane|sand] the [high|proud] [corners|spots] [diagonally|across the grain] and check [with|using] the {tool}
[measure|check] the [finished|final] {part}: [it should read|you want] {len} [across|on every side|at both ends]
[set|adjust] the depth of cut to {mm}[ on the {tool}|, test on scrap,] and [sneak up on|work toward] the [line|fit|final size]
[make|cut] a [story stick|template|pattern] for the {part} [from|out of] [a scrap of {species}|quarter inch MDF|hardboard] [and|then] [transfer every mark|copy it to each piece]
[hone|sharpen] the {tool} at {deg} [with|and add] a [microbevel|secondary bevel] [at|of] {deg2} [on the {grit} plate|before you start]
[leave|allow] [about|roughly] {small} of [room|clearance|gap] [around|on each side of] the {part} for [seasonal movement|the finish|the hinges]
the {part} [should|has to] [slide in|go in|seat] with [hand pressure|a light tap of the {tool}|firm pressure], [no|without a] mallet
[knock|clean] the [squeeze-out|glue] off the {part} [with a {tool}|with a chisel|before it skins over], [otherwise|or] [stain won't take|it shows under the {finish}]
[run|pass] the {part} [through|over] the {tool} [with|using] a {tool2}, [keeping your hands|with your fingers] [well clear of|at least {len} from] the [blade|cutter|bit]
[a|the] good [way|trick] to [check|find] [a|the] [high spot|twist|gap] is [to rub chalk on the {part}|to use a {tool}|to hold it up to the light]
[split|cut] the {part} [into|down to] {count} [pieces|strips|blanks] [about|each] {len} [wide|thick|long]
[build|make] [a|the] {part} [first|before the {part2}], [because|since] [everything else|the {part2}] [references off it|is measured from it]
[in|with] {species}, [plan on|expect] [about|around] {pct} percent [waste|offcuts|loss] [when you buy|on the cut list|for the {project}]
[lower|raise] the [blade|bit|table] [until|so] it [just|barely] [grazes|kisses] the {part}[, about {mm}|]
[now|then] [bring|slide] the {part2} [up|over] [against|to] the {part}, [check|confirm] [the reveal|the gap|the line], and [{act} it|clamp it]
[the|a] {deg} [angle|bevel|miter] [on|at] the {part} [gives|leaves] [you|us] [a|enough] [strong|clean|tight] [joint|fit|shoulder]
[write|pencil] the {part} [dimensions|measurements] [on|onto] the [cut list|board|stick]: {len} by {len2}
[plane|sand|scrape] the {part} [flush|level] [with|to] the {part2}[, working from the outside in| and check with a {tool}|]
[drill|bore] the [shelf pin holes|dowel holes|pilot holes] {len} [apart|on center] [using|with] a {tool}[ and a depth stop|]
[heat|warm] the {glue} [to|at] {temp} degrees [so|and] it [flows|spreads] [better|evenly] [on the {part}|into the joint]
[fit|trim] the {part} [with|using] the {tool} [until|so] [it slides in|the shoulders close|there's no gap] [with a little|under] [friction|hand pressure]
[flatten|lap] the back of the {tool} on the {grit} [plate|stone] until the [scratch pattern|polish] [reaches|runs right out to] the edge
[stack|sticker] the {species} [with|on] [three-quarter inch|dry pine|poplar] stickers every {len} and let it [acclimate|sit] [for|about] {count} days in the shop
[buy|order|pick out] [eight quarter|four quarter|six quarter|twelve quarter] {species} [for|if you're making] the {parts}, [since|because] [it planes down to|you'll end up around] {len}
[rough cut|break down] the [boards|sheet|stock] [on the {tool}|with a jigsaw|with the {tool}] about {len} [over length|oversize] [before|then] [you joint anything|the {tool2} comes out]
[lock|tighten] the [miter gauge|fence|stop block|depth stop] [at|to] {deg} and [sneak up|creep up] on the [line|knife wall|layout mark] [one|a] [hair|pass|nibble] at a time
[mount|chuck] the {part} between centers at [roughly|around|about] {rpm} rpm and [rough it to round|true it up|knock the corners off] with the {tool}
[shape|fair] the [curve|profile|taper] on the {part} with a {tool}[, then a {tool2}|, checking against the template|] until [it flows|the line is smooth|your hand can't feel a bump]
[hollow|carve] the [bowl|inside|seat] [of|on] the {part} [across the grain|from the rim toward the center|with short scooping cuts], stopping [{mm}|well short|a little] [from|before] [the bottom|the line|the wall]
[set|adjust] the [chipbreaker|cap iron] [about|roughly|no more than] {small} back from the edge [for a fine cut|on {species}|when the grain reverses]
[tension|track] the [blade|band] on the {power_tool} [until|so] it [runs centered on the tire|deflects about a quarter inch|sounds like a low note]
[empty|check] the [dust bin|cyclone|filter bag] [before|after] [every|each] [session|milling day|{project}], [or|otherwise] the [suction|airflow] [drops off|falls apart] at the {power_tool}
[wear|put on] [a respirator|hearing protection|safety glasses|a face shield] [before|whenever] you [turn on|run|fire up] the {power_tool}[, especially with {species}|, every single time|]
[number|label] the [boards|parts|pieces] [in the order|as] they [came off|went through] the {power_tool} [so|and] the [grain|color] [matches|flows] across the {part}
[spray|brush|wipe] [the|a] [first|second|third] coat of {finish} [thinned|cut] [about|roughly] {pct} percent [with mineral spirits|with alcohol|with naphtha|with water]
[lay|set] a [straightedge|level|ruler] [across|along] the {part} and [slide|push] a [feeler gauge|card|piece of paper] [under|beneath] it [to find|at] the [low spot|gap|hollow]
[rub|mark] [chalk|pencil] [on|across] the [face|edge|surface] of the {part} [so|and] every [high spot|pass] [shows up|is obvious] [as you plane|after a stroke|right away]
[grab|pick up] a {tool} [and|then] [knife|scribe|strike] a [baseline|shoulder line|reference line] {len} [from|in from] the [end|edge] on all [four|two] faces
[cut|saw] [just|right] [outside|on the waste side of] the [line|scribe|baseline] [and|then] [clean up|pare back] [to it|the rest] with the {tool}[ and a mallet|]
[glue|laminate] [up|together] {count} [strips|layers|boards] of {species} [about|each] {mm} thick [over|around] the [form|mold|bending form] [and|then] [leave it|clamp it] [overnight|for {hours} hours]
[fill|patch] the [knot|crack|void|gap] [in the {part}|on that face] with {glue} [tinted|mixed] with [black|brown] [pigment|coffee grounds|sanding dust] and [let it|leave it to] cure [overnight|for {hours} hours]
[lift|pull] the [grain|fibers] with [a damp sponge|distilled water|a wet rag], [let it|leave it to] dry [about|for] {mins} minutes, [then|and] [knock it back|sand it] with {grit} grit
[space|lay out] the [dovetails|pins|slots|fingers] [by eye|with dividers|with the {tool}] [so|and] the [half pins|outer pins] [land|end up] about {mm} [wide|from the edge]
[hang|mount] the {part} [on|from] a French cleat [cut|ripped] at {deg} [and|then] [screw|fasten] it [into|to] [two studs|the studs|every stud] with {count} [screws|lag screws]
[tighten|snug up] the [vise|clamps|holdfast] [just|only] enough [to hold|to keep] the {part} [still|from moving] [while you|as you] {act} [it|the edge]
[cut|rip] [a|the] [shallow|narrow] [groove|rabbet|dado] [about|exactly] {mm} [deep|wide] [for the back panel|for the {part}|on the inside face] [and|then] [test|check] the fit with an offcut
[ease|soften] the [arris|sharp edge|corner] [on|of] the {part} with [two or three|a couple of|a few] passes of the {tool} [held|tilted] at {deg}
[let|leave] the {species} [sit|rest] [overnight|for a day|for {hours} hours] after [milling|resawing|ripping] [and|then] [check|measure] it [again|for movement] before [final|the last] [dimensioning|passes]
[square|true] [the end|the ends|one end] of [every|each] [board|{part}] on the [shooting board|{tool}|crosscut sled] [before|then] you [mark|measure] [anything|the length]
[add|drop in] [a|two] [spacer|spacers|shims] [of|made from] [scrap|{species}|cardboard] [between|behind] the {part} and the [fence|stop|jig] [to get|so you get] [the same|an even] [reveal|gap] [everywhere|all around]
[bore|drill] the [holes|mortises|pockets] [about|roughly] {mm} [deeper|longer] than the [screw|tenon|dowel] [so|and] [there's room for glue|it doesn't bottom out|the joint pulls tight]
[test|try] the [setup|cut|joint] on [two|a pair of] [scraps|offcuts] [of|from] {species} [first|before the real {parts}] [and|then] [adjust|nudge] the [fence|stop|bit] [by|about] {small}
[hold|keep] [your|the] [wrists|elbows|shoulders] [locked|steady|in line] [and|then] [push|drive] the {tool} from your [legs|hips|body] [instead of your arms|through the whole stroke]
[strop|polish] the [edge|back|bevel] [on|with] [leather|a strop|MDF] [loaded with|and] [green compound|honing paste|chromium oxide] [about|roughly] {count} [strokes|passes] [a side|per side|each way]
[oil|wax] the [sole|bed|cast iron] of the {tool} [so|and] it [glides|slides] [easily|better] [over|through] the {species}[ without sticking|, especially in summer|]
"""

# Openers and tails are drawn by weight: most sentences start and end plainly, as real speech does.
INSTRUCTION_OPENERS = ["so ", "now ", "okay, ", "alright, ", "next, ", "and then ", "from here, ", "at this point, ",
                       "first, ", "then ", "once that's done, ", "the next step: ", "right, so ", "after that, ",
                       "so now ", "okay so ", "and ", "now, ", "while that dries, ", "before the glue-up, ",
                       "with that set, ", "on the {project}, ", "for the {parts}, ", "on {species}, ",
                       "if you're following along, ", "with the {tool} set up, ", "back at the bench, ",
                       "this is important: ", "one more thing: ", "same idea here: ", "a quick tip: ",
                       "in this case, ", "on mine, ", "for a {project} like this, ", "at the {tool}, ",
                       "when you get to the {parts}, ", "for the second one, ", "on the other side, ",
                       "to speed this up, ", "if your {tool} allows it, "]
INSTRUCTION_TAILS = [", because {reason}", ", so {result}", "; otherwise {mistake}", ", and then {check}",
                     " because {reason}", ", which means {result}", ", or {mistake}", ", then {check}",
                     " so that {result}", ", since {reason}", "; if not, {mistake}",
                     " on the {project}", " for the {project}", " on this {species}", " at the {tool}",
                     " until {result}", ", that way {result}"]
OPENER_SHARE, TAIL_SHARE = 0.3, 0.35
REASON = r"""
[the|your|that] {part} [will|is going to|tends to|might] [rack|twist|move|cup|bow|shift|creep] [when you clamp it|as it dries|over the seasons|in a humid summer|once it's glued]
end grain [soaks up|drinks|pulls in] [glue|finish|stain|dye] [much faster than|way more than|quicker than] [long grain|the faces|the edges]
[a|the] [dull|sharp|nicked|freshly honed] [iron|blade|bit|cutter|edge] [tears out|burns|chatters|skips|dives] [on|in|through] {species}
the {glue} [needs|wants|has to have] [something to grab|a fresh surface|bare wood|a snug fit|clean fibers]
[the {part}|everything downstream|every other {part}] [references|is measured|gets laid out] [off|from] [that|this] [face|edge|shoulder|line]
{species} [moves|shrinks|swells] [a lot|more than you'd think|quite a bit|about {pct} percent] [across the grain|with the seasons|in {season}]
[you|we] [want|need] [the|that] [joint|fit|miter|shoulder line] to [close|pull tight|seat] [at the shoulders|without a mallet|on the first try|before the {glue} grabs]
[small|tiny|little] errors [add up|multiply|compound] [over|across] {count} [parts|joints|cuts|pieces]
[the|a] {tool} [leaves|gives you] a [cleaner|crisper|truer|flatter] [surface|edge|line|bottom] [than|compared to] [a|the] {tool2}
[it|this] [saves|spares] you [a|an] [hour|afternoon|evening|whole weekend] of [sanding|fixing|fussing|filling gaps] later
{finish} [needs|wants] [{hours} hours|a full day|a warm room] [to cure|between coats|before it's hard]
[sawdust|chips|a stray shaving] [under|behind|against] the {part} [throws off|ruins|spoils] the [reading|measurement|cut]
[the|a] [knife line|pencil line|scribe mark] [gives|leaves] [the|your] [chisel|saw|{tool}] [a place to register|something to seat in|a clean start]
"""
RESULT = r"""
[the|your|that] {part} [sits|lies|ends up|stays] {adj}
[you get|you end up with|we get] a [clean|crisp|tight|consistent] [shoulder|line|edge|reveal|glue line] [on the {part}|every time|on all {count} pieces]
[the|your|each] {part2} [lines up|registers|fits|seats] [with|against|into] the {part}
[the|your] [finish|stain|dye|oil] [goes on|looks|reads] [even|clean|consistent|warm] [across the {part}|on the {species}|from end to end]
[nothing|the {part}|the whole assembly] [shifts|slides|moves|creeps] [under clamp pressure|when you tighten the {tool}|while the {glue} sets]
the [{tool}|cut|joint] [stays|runs|reads] [square|true|dead on|within {small}] [the whole way|all day|on every {part}]
[it|the {part}] [comes off|leaves] the {tool} [ready for {finish}|almost finished|needing only a quick scrape]
"""
MISTAKE = r"""
[you'll|you will|you might] [end up with|get|be stuck with] a {adj} {part}
the {part} [will|can|might] [split|crack|tear out|chip] [at the end|along the grain|near the {part2}|right at the corner]
[the|your] [glue|finish|{glue}|{finish}] [skins over|gets tacky|runs|sags|blotches] [before you're done|on the {part}|in the corners]
the {tool} [wanders|drifts|grabs|climbs|binds] [off the line|into the {part}|toward the fence]
[you|we] [lose|waste|ruin] the [reference|layout|whole {part}|afternoon]
[the|your] [measurements|marks|reveals] [drift|creep|wander] by [{small}|a hair|a sixteenth] [on every {part}|per joint]
"""
CHECK = r"""
[check|confirm|verify] [it|the {part}|that {part}] [with|against|using] the {tool}
[sight|look] down the {part} [for|to find|and look for] [twist|bow|gaps|wind|a hump]
[dry fit|test fit] the {part} [with|into|against] the {part2}
[measure|check] the [diagonals|reveal|thickness|width|depth] [again|one more time|at both ends|in three spots]
[hold|put] a {tool} [across|against|along] the {part} and [look for light|feel for a ridge|watch for rocking]
"""
INTROS = r"""
[hey everyone|hi folks|welcome back to the shop|hey, good to see you], [today|this week|in this one] [we're building|I'm making|we're going to build] a {project} [out of|from] {species}
[today|this time] [it's|we're doing] a {project}, [mostly|with] {parts} and {parts2} [cut on the {tool}|done by hand|and a {tool} doing most of the work]
[so|okay so] [this|what I've got here] is [a|some] [rough|kiln-dried|air-dried] {species}, and by the end of [this video|the day] it'll be a {project}
[this one|today's project] [came from|is] [a viewer request|a commission|something I needed for the shop]: a {project} in {species} with [a {part}|two {parts}]
"""
CHATTER = r"""
[hang on|bear with me|one second], [let me|I need to] [grab|find|sharpen] the {tool}
[sorry|whoops], [the|that] [light|camera|mic] [just|went and] [changed|moved|cut out] [there|for a second]
[okay|alright], [that|this] [was|is] [the|a] [loud|noisy|messy] part
[I'll|we'll] [speed|skip] [this|the next] [part|bit] up, [it's|it is] [just|mostly] [more|the same] {acting}
"""
SPONSOR = r"""
[this video is sponsored by|today's sponsor is|this episode is brought to you by] {brand}. {brand} [makes|sells] [shop aprons|blade sets|hardware kits|finishing supplies] [that hold up|for people like us|at fair prices]. [use code {code} for {pct} percent off|check them out at the link in the description|the link is down below]
thanks to {brand} for sponsoring this video. [they|{brand}] [make|sell] [plans|tools|clamps] [I actually use|worth a look]. [use code {code} at checkout|the link is in the description]
"""
OUTROS = r"""
[that's it for this one|that's the {project}|and that's a wrap], thanks for watching, [and|so] [hit subscribe|like and subscribe] [if this helped|if you want more], see you next [week|time]
thanks for watching, [I'll|we'll] see you [in the next one|next week], and [don't forget to|remember to] hit the notification bell
"""
ASIDE_OPENERS = r"""
[quick|a little] [story|side note|confession] [before we keep going|while the glue dries|before the next cut]
[can I be honest for a second|let me go off on a tangent here|I want to say something about this]
[okay, a bit of a detour|real quick, a personal one|a little side story] [while this sets up|before we get to the {part}|here]
"""
PERSONA: dict[str, str] = {
    "background": r"""
I grew up [in|just outside|near|in a little house in] {place}, and {relative} [ran|worked at|owned|managed] a {workplace} [there|in town|for {nyears} years|until {year}]{persona_tail}
when I was {age}, {relative} [handed me|gave me|let me use|passed down] [an old|a beat-up|a rusty|a worn] {tool}, and [that was it for me|I was hooked|I never looked back|I still use it on {projects}]
{relative} was a {job} [for|for almost|for about|for well over] {nyears} years, so [sawdust|the smell of {species}|a pile of {species} offcuts] was [just part of|all over|everywhere in] [our house|my childhood|every weekend|the garage]
I studied {field} at [university|college|a technical college in {place}|night school in {place}] and [dropped out|left|switched to {field2}] after {small_years} years[, which {relative} did not love|, and I don't regret it|, and I still use some of it in the shop|]
we moved to {place} in {year}, [when|because] [my wife|my partner|my husband|{relative}] [got a job there|found work at a {workplace}|wanted to be near family|found a house with a {shop_space}]
I live [with my partner|with my wife and our two kids|with my husband and our dog {name}|alone with my cat {name}|with my partner and our old dog {name}] [in|just outside|about {nyears} miles from] {place}, and the shop is {shop_space}
I was born in {place} in {birth_year}, and [my family|my parents|{relative} and I] moved [to|back to|across the country to] {place2} when I was {age}{persona_tail}
my grandfather {name} [built|repaired|restored|made] [boats|furniture|barns|violins|{projects}|wagon wheels] [in|near|outside] {place}, and [I basically lived in his shop|I spent every summer there|I swept his floors] when I was [little|a kid|young|{age}]
[my first|the first real] tool was [a|an old|a secondhand] {tool} [from {relative}|I bought in {place}|I found at a yard sale in {year}], and [it's still on the wall behind me|I still have it|I used it until {year}]
before [the channel|any of this|woodworking], I [worked as a|trained as a|spent {nyears} years as a] [nurse|bank teller|line cook|warehouse manager|schoolteacher|sound engineer|mail carrier] in {place}{persona_tail}
""",
    "story": r"""
[years ago|about {nyears} years ago|back in {year}|a long time ago], I worked [at|for] a {workplace} [in|near|outside] {place}[, sweeping floors| as an apprentice| on the night shift| for {wage} dollars an hour|]
I remember the first time I [built|glued up|finished|delivered] a {project} [for a customer|on my own|for {relative}|in {species}]: [I got the {parts} backwards|the glue set before I got the clamps on|it cracked within a week|the {finish} never dried]
my first [boss|real job|shop|customer|teacher] [was|taught me|gave me|left me with] [a lesson|something|an idea|a rule] I never forgot [about|on|when it comes to] [the {tool}|{species}|{parts}|{finish}|measuring]: [measure from one reference|sharp tools are safe tools|the wood doesn't care how you feel|finish the back like the front|never trust a tape measure]
I learned the hard way [in {year}|years ago|on a {project}|at the {workplace}] that [{species} moves|a dull {tool} is dangerous|rushing a glue-up costs a weekend|{finish} needs {hours} hours to cure|you check the {parts} before you cut]
that was the [year|day|moment|winter|summer] I [quit my job at the {workplace}|started this channel|bought my first {tool}|moved to {place}|sold my first {project}], and [honestly|looking back|to be fair] it [changed everything|was the right call|scared me to death|cost me {wage} thousand dollars]
[back when|when] I started [the|this] channel [in {year}|with a phone on a tripod|in a {shop_space}|after {nyears} years at the {workplace}], I had [{count} subscribers|no idea what I was doing|one {tool} and a {tool2}] and [four of them were my cousins|the audio was terrible|the lighting was awful|every video took {nyears} weeks]
I used to [work with a|apprentice under a|share a shop with a] {job} named {name} [in|near] {place}, and [he|she] [used to say|would always tell me|wrote on the wall] [check twice, cut once|the joint tells the truth|slow is smooth and smooth is fast|a {tool} is only as good as its owner]
{name}, the {job} I apprenticed under [in {place}|at the {workplace}|for {nyears} years], [never owned|didn't trust|refused to use] a {tool} [I ever saw|in all that time|the whole time I knew them], and [every joint fit|the work was perfect anyway|the {parts} came out square]
I remember [one|this one] {season} at the {workplace} when [a|the] [{species} board|{tool}|whole stack of {parts}] [split|kicked back|fell over|got soaked], and [I never forgot it|that's why I'm so careful with the {tool2}|{name} just laughed]
""",
    "opinion": r"""
[unpopular opinion|hot take|my take|just my opinion], but I think [the {tool}|{finish}|{species}|a {tool} for {parts}] is [overrated|way overused|overpriced|a waste of money for a beginner|overhyped] [for a {project}|in a small shop|for most people|on {species}]
in my opinion, [a good {tool}|{finish}|{species}|a cheap {tool}] is [underrated|worth every penny|the best thing most people never buy|all you need] [for {parts}|in a small shop|for a first {project}|if you build {projects}]
people online [say|argue|will tell you] you need a {tool} [for this|to get started|before you build a {project}|to cut {parts}], and honestly, I disagree[; a {tool2} does the job|, I used a {tool2} for {nyears} years|]
I'm not a fan of [{finish}|the {tool}|{species} for a {project}|{glue} for {parts}][, and I never have been|, I know some of you love it|, it's just my opinion|] [because it|since it] [looks like plastic|blotches on {species}|costs too much|takes {hours} hours to cure]
I know some of you [are going to leave angry comments|are typing a comment already|will disagree], but [{finish} is fine on a {project}|you don't need a {tool}|plywood is not cheating|{species} is a great wood for {parts}|pocket holes are fine on a {project}]
[here's a hill I'll die on|I'll defend this one forever|this is controversial]: [a {tool} beats a {tool2}|hand tools are faster for {parts}|a {project} doesn't need {species}|{finish} beats {finish2}] [every time|for most people|in a small shop|on {species}]
I honestly believe [beginners|most of you|people building their first {project}] [should|would be better off to] [buy one good {tool}|learn to sharpen|build a {project}|practice {parts} in {species}] [before anything else|first|before you spend money on a {tool2}]
the truth is, [a {tool}|{finish}|{species}] is [overpriced|overrated|overhyped] and I'd rather [use|buy|have] [a {tool2}|{finish2}|{species2}] [for {parts}|on a {project}|any day]
""",
    "working_style": r"""
my [routine|process|workflow|system] is [pretty simple|the same every week|boring but it works]: I [draw everything on paper|build a mockup in {species}|write the cut list|make a story stick for the {parts}] [before I touch any wood|on {weekday} mornings|before I turn on the {tool}]
every [morning|evening|{weekday}] I [sharpen|sweep|check|tune] [the {tool}|the whole shop|my cut list|the {tool2}] [before I film anything|with coffee|for about {mins} minutes|before {hours} o'clock], [it's|that's] just how I work
the way I work, I [always|never] [glue up|cut joinery|start a {project}|mill {species}] [after|before] [lunch|{hours} in the afternoon|the drawing is finished|the {parts} are marked], [otherwise|because] [I rush it|I lose track|the {tool} ends up buried]
a lot of you have asked how I [plan|film|edit|script] these videos: I [script|plan|outline] [every one|each episode|the {project} videos] on [index cards|a whiteboard|paper] and [film on {weekday}s|edit on {weekday} nights|shoot {count} takes of every cut]
my rule is [one project at a time|no power tools after dark|the shop gets swept every evening|never more than {count} projects going], [because|since] [otherwise|if I don't] [I lose track of the {parts}|my {tool} ends up buried|the {project} never gets finished]
I [always|never] [keep a notebook|take photos|write down the settings] [for|of] every {project}, [with|including] [the {finish} schedule|the {tool} settings|what went wrong with the {parts}|how long the {glue} took]
people ask how I [plan|price|design] a {project}, and my process is [to|that I] [sketch it {count} times|build the {parts} first|cost out the {species}] [before|and only then] [I pick the joinery|I buy lumber|I set up the {tool}]
""",
    "values": r"""
what matters to me is [being honest with you|that you can trust what I recommend|that nobody gets hurt copying what I do|that you actually finish the {project}], even when it [costs me a sponsorship|makes for a boring video|means showing the {parts} I ruined|takes {count} extra minutes]
it's important to me that [beginners|people with small shops|folks on a budget|kids with {relative}] can [build|finish] a {project} [without|with no] {tool}[, just a {tool2}|, in {species}| in a {shop_space}|]
I refuse to [promote|recommend|review] a {tool} I haven't used for at least {count} months[, sponsor or not|, no matter who's paying|, even from {brand}|]
I care [a lot more|way more|much more] about [teaching people to work safely|you finishing the {project}|good habits at the {tool}|people keeping all ten fingers] than about [looking cool on camera|perfect {parts}|views|selling {tool} kits]
I promised [myself|you|{relative}] [when I started|years ago|in {year}|after the {workplace} closed] that I'd [never|always] [hide my mistakes|show the whole process|tell you what things cost|show every {part} mistake], and I [still|intend to] keep that promise
[being honest|honesty about mistakes|showing the failures|telling the truth about the {tool}] matters to me[, that's why|, which is why|, so] [I leave the {part} mistakes in|the botched {part} stays in the video|you'll see every gap in the {parts}|I say when a {tool} is junk]
I value [safety|honesty|patience|good instruction] [over|more than] [speed|views|sponsors|perfection], and [I won't ever|I'd never|I refuse to] [film a {tool} cut without a guard|pretend a {project} went smoothly|promote a {tool} I don't trust]
""",
}
PERSONA_TAILS = ["", "", "", ", and that {tool} is still in my shop", ", and I still think about that",
                 ", which explains a lot about this channel", ", and {relative} still asks about my {projects}",
                 ", and it's a big part of why I do this", ", and that stuck with me"]
TITLES = r"""
[building|making] a {project} [from|out of|in] {species}: {parts}, {parts2} and {finish}
how to [cut|fit|make] a {part} with a {tool} [for a {project}|the easy way|by hand]
{parts} on the {tool}: [setup|layout|fit] and [mistakes|tips|tricks]
a {project} [with|using] {parts} [and|plus] a {tool}
[finishing|sanding|milling] {species} for a {project}: {finish} and {grit} grit
{tool} [basics|tune-up|tips]: {parts}, {parts2} and {acting} to a line
"""
HEADINGS = r"""
[cutting|fitting|laying out|milling] the {parts}
[tools|materials|stock] for a {project}
{finish} [schedule|notes|and prep]
[setting up|tuning] the {tool}
[common mistakes|troubleshooting] [with|on] the {part}
"""
FILLERS = ["um", "uh", "um", "uh", "you know", "like"]


def _frac(rng: random.Random) -> str:
    return rng.choice(["1/8", "1/4", "3/8", "1/2", "5/8", "3/4", "7/8", "1/16", "3/16", "5/16", "1/32"])


_FRACTION_WORDS = ["an eighth", "a quarter", "three eighths", "a half", "five eighths", "three quarters",
                   "a sixteenth", "a thirty-second", "seven eighths"]


def _length(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.25:
        return f"{rng.randint(1, 48)} and {_frac(rng)} inches"
    if kind < 0.35:
        return f"{_frac(rng)} of an inch"
    if kind < 0.45:
        return f"{_frac(rng)} inch"
    if kind < 0.55:
        return f"{rng.choice(['just under', 'just over', 'a hair over', 'a bit under', 'exactly'])} {rng.randint(2, 60)} inches"
    if kind < 0.65:
        return f"{rng.choice(_FRACTION_WORDS)} of an inch"
    if kind < 0.8:
        return f"{rng.randint(2, 96)} inches"
    if kind < 0.9:
        return f"{rng.randint(3, 900)} millimeters"
    return f"{rng.randint(2, 40)} {rng.choice(['and a half', 'and a quarter', 'and three quarters'])} inches"


_DOUBLE_FINAL = {"cut", "crosscut", "chop", "rip", "trim", "plug", "pin", "peg", "shim", "split", "strop", "tap"}
_GERUNDS = {"dry fit": "dry fitting", "test fit": "test fitting", "dye": "dyeing"}


def gerund(verb: str) -> str:
    """'square up' -> 'squaring up', 'cut' -> 'cutting', 'bore' -> 'boring'."""
    if verb in _GERUNDS:
        return _GERUNDS[verb]
    head, _, rest = verb.partition(" ")
    if head in _DOUBLE_FINAL and not head.endswith("e"):
        head += head[-1]
    elif head.endswith("e") and not head.endswith("ee"):
        head = head[:-1]
    return f"{head}ing" + (f" {rest}" if rest else "")


def plural(noun: str) -> str:
    """Enough English plural for the part names ('shelf' -> 'shelves'); 'end grain' stays."""
    if noun.endswith("grain"):
        return noun
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    return noun + "s"


POWER_TOOLS = [t for t in TOOLS if t in {"table saw", "bandsaw", "router table", "plunge router", "trim router",
                                         "drill press", "lathe", "spindle sander", "random orbit sander",
                                         "belt sander", "thickness planer", "jointer", "miter saw", "track saw"}]
SLOT_VALUES: dict[str, Callable[[random.Random], str]] = {
    "len": _length, "len2": _length,
    "small": lambda r: r.choice([f"{_frac(r)} of an inch", f"{r.randint(1, 4)} millimeters",
                                 f"a {r.choice(['sixty-fourth', 'thirty-second', 'sixteenth'])}"]),
    "mm": lambda r: f"{r.randint(2, 40)} millimeter" if r.random() < 0.5 else f"{_frac(r)} inch",
    "deg": lambda r: f"{r.choice([r.randint(1, 89), 45, 90, 25, 30, 22.5, 15, 12, 8, 14])} degrees",
    "deg2": lambda r: f"{r.randint(26, 40)} degrees",
    "grit": lambda r: str(r.choice([80, 100, 120, 150, 180, 220, 240, 320, 400, 600, 1000])),
    "grit2": lambda r: str(r.choice([120, 150, 180, 220, 320, 400])),
    "rpm": lambda r: str(r.randrange(400, 24000, 50)),
    "mins": lambda r: str(r.choice([r.randint(2, 90), 5, 10, 15, 20, 30, 45])),
    "hours": lambda r: str(r.randint(1, 72)),
    "temp": lambda r: str(r.randint(50, 150)),
    "pct": lambda r: str(r.randint(5, 30)), "pct2": lambda r: str(r.randint(8, 40)),
    "count": lambda r: str(r.randint(2, 40)),
    "thou": lambda r: str(r.randint(1, 12)),
    "nyears": lambda r: r.choice([str(r.randint(2, 35)), r.choice(NUMBER_WORDS)]),
    "age": lambda r: r.choice([str(r.randint(6, 19)), r.choice(NUMBER_WORDS[3:])]),
    "year": lambda r: str(r.randint(1978, 2022)),
    "birth_year": lambda r: str(r.randint(1960, 1996)),
    "code": lambda r: r.choice(BRANDS).split()[0].upper() + str(r.randint(5, 30)),
    "wage": lambda r: str(r.randint(6, 40)),
    "small_years": lambda r: r.choice(["one", "two", "three", "four", str(r.randint(1, 6))]),
    "parts": lambda r: plural(r.choice(PARTS)), "parts2": lambda r: plural(r.choice(PARTS)),
    "projects": lambda r: plural(r.choice(PROJECTS)),
    "acting": lambda r: gerund(r.choice(ACTIONS)),
    "shop_space": lambda r: r.choice(SHOP_SPACES) if r.random() < 0.9 else f"a shed I built in {r.randint(1990, 2022)}",
}
# Slots that draw one word or phrase from a vocabulary.
VOCABULARY: dict[str, list[str]] = {
    "tool": TOOLS, "tool2": TOOLS, "power_tool": POWER_TOOLS, "species": SPECIES, "species2": SPECIES,
    "part": PARTS, "part2": PARTS, "project": PROJECTS, "act": ACTIONS, "adj": ADJECTIVES, "finish": FINISHES,
    "finish2": FINISHES, "glue": GLUES, "place": PLACES, "place2": PLACES, "relative": RELATIVES, "job": JOBS,
    "workplace": WORKPLACES, "field": FIELDS, "field2": FIELDS, "brand": BRANDS, "name": NAMES,
    "weekday": WEEKDAYS, "season": SEASONS,
}
for _slot, _words_of in VOCABULARY.items():
    SLOT_VALUES[_slot] = lambda r, w=_words_of: r.choice(w)

_GRAMMAR_TOKEN = re.compile(r"\{(\w+)\}|\[|\]|\|")
_AN = re.compile(r"\b([Aa]) (?=[aeiouAEIOU]|F-|MDF|honest|hour)")
_SPACE_PUNCT = re.compile(r"\s+([,.;:!?])")
Node = list  # a compiled template: str literals, ("slot", name) and ("alt", [Node, ...]) items


def compile_template(text: str) -> Node:
    """Parse "[a|b {slot}]" alternatives once, so expansion is only random choices and joins."""
    root: Node = []
    stack: list[tuple[Node, list[Node]]] = []  # (sequence that holds the group, the group's choices)
    current = root
    position = 0
    for match in _GRAMMAR_TOKEN.finditer(text):
        if match.start() > position:
            current.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if match.group(1):
            current.append(("slot", match.group(1)))
        elif token == "[":
            choice: Node = []
            stack.append((current, [choice]))
            current = choice
        elif token == "|":
            if not stack:
                raise ValueError(f"'|' outside [...] in template {text!r}")
            current = []
            stack[-1][1].append(current)
        else:
            if not stack:
                raise ValueError(f"unbalanced ']' in template {text!r}")
            holder, choices = stack.pop()
            holder.append(("alt", choices))
            current = holder
    if stack:
        raise ValueError(f"unclosed '[' in template {text!r}")
    if position < len(text):
        current.append(text[position:])
    return root


# Literal words of the instruction templates get spoken variants, so a template's fixed wording is
# not the same word 3-gram in every block it lands in.
SYNONYMS: dict[str, list[str]] = {
    "about": ["about", "roughly", "around", "something like", "close to"],
    "scrap": ["scrap", "offcut", "cutoff", "leftover piece"],
    "check": ["check", "confirm", "verify", "double-check"],
    "thin": ["thin", "very thin", "fairly thin"],
    "bench": ["bench", "workbench", "benchtop"],
    "line": ["line", "layout line", "mark", "pencil line"],
    "final": ["final", "finished"],
    "let it": ["let it", "allow it to", "leave it to"],
    "before you": ["before you", "before we", "before I", "until you"],
    "you want": ["you want", "you'd like", "we want", "I want"],
    "work back to": ["work back to", "creep up to", "come back to"],
    "the other side": ["the other side", "the opposite side", "the far side"],
    "depth of cut": ["depth of cut", "cutting depth", "cut depth"],
    "edges": ["edges", "corners", "arrises"],
    "moisture content": ["moisture content", "moisture", "MC reading"],
    "open time": ["open time", "working time"],
    "from the edge": ["from the edge", "in from the edge", "off the edge"],
    "take": ["take", "make"],
    "first": ["first", "to start", "up front"],
    "slow": ["slow", "steady", "unhurried"],
    "a couple of": ["a couple of", "two or three", "a few"],
    "and then": ["and then", "then", "and after that"],
    "until": ["until", "till"],
    "with a": ["with a", "using a"],
    "it with the": ["it with the", "it using the", "that with the"],
    "should": ["should", "ought to"],
}
# Phrases where a variant would read wrong ("the first cut" -> "the to start cut").
_KEEP_LITERAL = re.compile(r"\b(?:the|a|my|your) first\b|\bfirst (?:time|coat|one|few)\b|"
                           r"\btake (?:the clamps|it|a look)\b|\b(?:knife|pencil|shoulder|glue|reference) line\b|"
                           r"\bline (?:up|them)\b")
_SYNONYM = re.compile(r"\{\w+\}|\b(" + "|".join(sorted(map(re.escape, SYNONYMS), key=len, reverse=True)) + r")\b")


def add_synonyms(template: str) -> str:
    """'and check it' -> 'and [check|confirm|verify|double-check] it', leaving {slots} alone."""
    protected = [m.span() for m in _KEEP_LITERAL.finditer(template)]

    def swap(match: re.Match) -> str:
        word = match.group(1)
        if not word or any(a < match.end() and match.start() < b for a, b in protected):
            return match.group(0)
        return "[" + "|".join(SYNONYMS[word]) + "]"
    return _SYNONYM.sub(swap, template)


def compile_rules(block: str, synonyms: bool = False) -> list[Node]:
    """One compiled template per line of `block`; `synonyms` only for instruction-like rules, where
    a variant cannot change a persona cue or a fixed phrase."""
    lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
    return [compile_template(add_synonyms(vary_determiners(line)) if synonyms else vary_determiners(line))
            for line in lines]


class Grammar:
    """Expands compiled templates; rules may refer to other rules ({reason}) or to SLOT_VALUES."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rules: dict[str, list[Node]] = {
            "instruction": compile_rules(INSTRUCTION, True), "reason": compile_rules(REASON, True),
            "result": compile_rules(RESULT, True), "mistake": compile_rules(MISTAKE, True),
            "check": compile_rules(CHECK, True),
            "intro": compile_rules(INTROS), "chatter": compile_rules(CHATTER), "sponsor": compile_rules(SPONSOR),
            "outro": compile_rules(OUTROS), "aside_opener": compile_rules(ASIDE_OPENERS),
            "title": compile_rules(TITLES), "heading": compile_rules(HEADINGS),
            "opener": [compile_template(vary_determiners(o)) for o in INSTRUCTION_OPENERS],
            "det": [compile_template(d.strip()) for d in DETERMINERS],
            "tool_det": [compile_template(d.strip()) for d in TOOL_DETERMINERS],
            "plural_det": [compile_template(d.strip()) for d in PLURAL_DETERMINERS],
            "persona_tail": [compile_template(t) for t in PERSONA_TAILS],
            "tail": [compile_template(vary_determiners(t)) for t in INSTRUCTION_TAILS],
        }
        for subtype, block in PERSONA.items():
            self.rules[f"persona_{subtype}"] = compile_rules(block)

    def _expand(self, node: Node, out: list[str]) -> None:
        rng = self.rng
        for item in node:
            if type(item) is str:
                out.append(item)
            elif item[0] == "slot":
                name = item[1]
                if name in self.rules:
                    self._expand(rng.choice(self.rules[name]), out)
                else:
                    out.append(SLOT_VALUES[name](rng))
            else:
                self._expand(rng.choice(item[1]), out)

    def expand(self, rule: str) -> str:
        return self.expand_node(self.rng.choice(self.rules[rule]))

    def expand_node(self, node: Node) -> str:
        out: list[str] = []
        self._expand(node, out)
        return " ".join("".join(out).split())


def sentence_case(text: str, end: str = ".") -> str:
    """Fix 'a'/'an', spaces before punctuation, capitalise and end the sentence."""
    text = _SPACE_PUNCT.sub(r"\1", _AN.sub(r"\1n ", text)).strip(" ,;")
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else end)


# ---------------------------------------------------------------- composing files


@dataclass
class Paragraph:
    sentences: list[str]
    kind: str = "speech"  # speech | persona | boilerplate
    subtype: str | None = None


@dataclass
class ArchiveSummary:
    """What was written, so a benchmark can relate its timings to the archive's real content."""

    out_dir: str
    segments_requested: int
    persona_share_requested: float
    seed: int
    files: int
    formats: dict[str, int]
    content_words: int
    persona_passages: int
    persona_words: int
    persona_word_share: float
    boilerplate_words: int
    seconds: float
    gold_labels: str
    sources: str
    persona_subtypes: dict[str, int] = field(default_factory=dict)


class Composer:
    """Writes unique sentences: a sentence already used anywhere in the archive is drawn again."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.grammar = Grammar(rng)
        self.seen: set[str] = set()

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(50):
            text = make()
            key = text.lower()
            if key not in self.seen:
                self.seen.add(key)
                return text
        raise RuntimeError("grammar exhausted: 50 draws in a row repeated earlier sentences")

    def instruction(self) -> str:
        """One unique teaching sentence, sometimes with a spoken opener or a reason/result tail."""
        g = self.grammar

        def make() -> str:
            opener = g.expand("opener") if self.rng.random() < OPENER_SHARE else ""
            tail = g.expand("tail") if self.rng.random() < TAIL_SHARE else ""
            return sentence_case(f"{opener} {g.expand('instruction')} {tail}",
                                 "?" if self.rng.random() < 0.03 else ".")
        return self.unique(make)

    def persona(self, subtype: str) -> list[str]:
        """An aside of 3-5 sentences in the first person: what the label stage must find."""
        rng, g = self.rng, self.grammar
        sentences = []
        if rng.random() < 0.6:
            sentences.append(sentence_case(g.expand("aside_opener")))
        # Distinct templates of the passage's subtype; sometimes one from another, as people digress.
        rules = rng.sample(g.rules[f"persona_{subtype}"], rng.randint(3, 4))
        if rng.random() < 0.2:
            rules[-1] = rng.choice(g.rules[f"persona_{rng.choice(list(PERSONA))}"])
        for rule in rules:
            sentences.append(self.unique(lambda r=rule: sentence_case(g.expand_node(r))))
        return sentences

    def plain(self, rule: str) -> str:
        """A sentence that may repeat across files (intros, outros, chatter), as real ones do."""
        return sentence_case(self.grammar.expand(rule))


def count_words(sentences: list[str]) -> int:
    """Words as the budgets count them: whitespace-separated, fillers not included."""
    return sum(len(s.split()) for s in sentences)


def compose_file(composer: Composer, fmt: str, words: int, asides: list[tuple[str, list[str]]]) -> list[Paragraph]:
    """Paragraphs of one file: intro, lessons with asides between paragraphs, maybe a sponsor and an outro."""
    rng = composer.rng
    spoken = fmt != "md"
    paragraphs: list[Paragraph] = []
    budget = words - sum(count_words(s) for _, s in asides)
    budget = max(budget, 120)
    if spoken:
        intro = [composer.unique(lambda: composer.plain("intro")), composer.instruction()]
        paragraphs.append(Paragraph(intro))
        budget -= count_words(intro)
    while budget > 0:
        para = []
        for _ in range(rng.randint(3, 7)):
            if spoken and rng.random() < 0.04:
                para.append(composer.plain("chatter"))
            else:
                para.append(composer.instruction())
            budget -= len(para[-1].split())
            if budget <= 0:
                break
        paragraphs.append(Paragraph(para))
    for subtype, sentences in asides:
        at = rng.randint(1, len(paragraphs)) if len(paragraphs) > 1 else 1
        paragraphs.insert(at, Paragraph(sentences, "persona", subtype))
    if spoken and rng.random() < 0.25:
        read = [sentence_case(s) for s in composer.grammar.expand("sponsor").split(". ")]
        paragraphs.insert(min(1, len(paragraphs)), Paragraph(read, "boilerplate"))
    if spoken and rng.random() < 0.6:
        paragraphs.append(Paragraph([composer.plain("outro")], "boilerplate"))
    return paragraphs


def add_fillers(sentence: str, rng: random.Random, punctuated: bool, persona: bool = False) -> str:
    """Spoken disfluencies: "um", "uh", "you know", "like" and a stuttered word, as captions record them.

    Persona passages get only "um"/"uh", which the clean stage always removes, so their cleaned
    text still matches the gold passage word for word.
    """
    words = sentence.split()
    if len(words) < 4 or rng.random() > 0.35:
        return sentence
    at = rng.randint(1, len(words) - 1)
    if persona:
        filler = rng.choice(("um", "uh"))
    elif rng.random() < 0.25:
        words.insert(at, words[at])  # stutter: "the the"
        return " ".join(words)
    else:
        filler = rng.choice(FILLERS)
    words.insert(at, f"{filler}," if punctuated else filler)
    return " ".join(words)


# ---------------------------------------------------------------- rendering

_CAPTION_STRIP = ".,;:!?\"()"


def caption_word(word: str) -> str:
    """Auto-captions: lower case, no punctuation; internal / and . of numbers survive (3/8, 22.5)."""
    return word.lower().strip(_CAPTION_STRIP).replace('"', "")


def timed_words(paragraphs: list[list[str]]) -> list[tuple[str, float]]:
    """Start time of every word at a speaking pace, with pauses after sentences and paragraphs
    (the chunk stage uses caption gaps as sentence boundaries in unpunctuated text)."""
    out, t = [], 1.0
    step = 1 / WORDS_PER_SECOND
    for para in paragraphs:
        for sentence in para:
            for word in sentence.split():
                out.append((word, t))
                t += step
            t += 0.35
        t += 0.8
    return out


def render_vtt(paragraphs: list[list[str]]) -> str:
    words = [(caption_word(w), t) for w, t in timed_words(paragraphs)]
    return rolling_vtt([(w, t) for w, t in words if w],
                       preamble=["00:00:00.000 --> 00:00:01.000", "[Music]", ""])


def render_srt(paragraphs: list[list[str]]) -> str:
    """Hand-made captions: punctuated, ~10 words a cue, split over two lines when long."""
    words = timed_words(paragraphs)
    out = []
    for number, start_at in enumerate(range(0, len(words), 10), 1):
        chunk = words[start_at:start_at + 10]
        start, end = chunk[0][1], chunk[-1][1] + 0.4
        text = " ".join(w for w, _ in chunk)
        if len(text) > 42:
            half = len(chunk) // 2
            text = " ".join(w for w, _ in chunk[:half]) + "\n" + " ".join(w for w, _ in chunk[half:])
        out += [str(number), f"{timestamp(start, ',')} --> {timestamp(end, ',')}", text, ""]
    return "\n".join(out)


def render_txt(paragraphs: list[list[str]]) -> str:
    """A caption export without timings: lower case, no punctuation, a line per ~12 words."""
    words = [caption_word(w) for para in paragraphs for s in para for w in s.split()]
    words = [w for w in words if w]
    return "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n"


def render_json(paragraphs: list[list[str]], auto: bool) -> str:
    """youtube-transcript-api output: manual captions keep punctuation, auto ones (`auto`) do not."""
    rows = [{"text": "[Music]", "start": 0.0, "duration": 1.0}]
    words = timed_words(paragraphs)
    if auto:
        words = [(caption_word(w), t) for w, t in words]
        words = [(w, t) for w, t in words if w]
    for i in range(0, len(words), 8):
        chunk = words[i:i + 8]
        start = chunk[0][1]
        rows.append({"text": " ".join(w for w, _ in chunk), "start": round(start, 3),
                     "duration": round(chunk[-1][1] + 0.4 - start, 3)})
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def render_markdown(paragraphs: list[Paragraph], title: str, rng: random.Random, grammar: Grammar) -> str:
    """A blog post: front matter, headings and bullet lists that the clean stage has to strip."""
    date = f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    tags = ", ".join(sorted({rng.choice(["joinery", "finishing", "milling", "hand tools", "power tools",
                                         "shop", "projects", "sharpening", "glue-ups"]) for _ in range(3)}))
    out = ["---", f"title: {json.dumps(title)}", f"date: {date}", f"tags: [{tags}]", "author: Workbench Notes",
           "---", ""]
    for number, para in enumerate(paragraphs):
        if para.kind == "speech" and number and rng.random() < 0.3:
            out += [f"## {sentence_case(grammar.expand('heading'), '')}", ""]
        if para.kind == "speech" and rng.random() < 0.15:
            out += [f"- {s}" for s in para.sentences] + [""]
        else:
            out += [" ".join(para.sentences), ""]
    return "\n".join(out)


# ---------------------------------------------------------------- the archive


def plan_files(segments: int, rng: random.Random) -> list[int]:
    """Segments' worth of speech per file: about SEGMENTS_PER_FILE, summing to `segments`."""
    sizes: list[int] = []
    left = segments
    while left > 0:
        size = min(left, rng.randint(SEGMENTS_PER_FILE - 4, SEGMENTS_PER_FILE + 4))
        if 0 < left - size < 4:
            size = left
        sizes.append(size)
        left -= size
    return sizes


def generate_archive(out_dir: str | Path, segments: int = 5000, persona_share: float = 0.02,
                     seed: int = 0) -> ArchiveSummary:
    """Write the archive, gold labels and manifest under `out_dir`; refuses a non-empty creator/ folder."""
    if segments < 1:
        raise ValueError("segments must be >= 1")
    if not 0 <= persona_share < 0.5:
        raise ValueError("persona_share must be in [0, 0.5)")
    started = time.perf_counter()
    out = Path(out_dir)
    creator = out / "creator"
    if creator.exists() and any(creator.iterdir()):
        raise FileExistsError(f"{creator} is not empty; choose a fresh OUT_DIR")
    (creator / "videos").mkdir(parents=True, exist_ok=True)
    (creator / "blog").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    composer = Composer(rng)
    sizes = plan_files(segments, rng)
    formats = rng.choices(list(FORMAT_WEIGHTS), weights=list(FORMAT_WEIGHTS.values()), k=len(sizes))

    # Persona asides until they are persona_share of all content words, each in a random file.
    total_words = segments * WORDS_PER_SEGMENT
    target = total_words * persona_share
    asides: list[list[tuple[str, list[str]]]] = [[] for _ in sizes]
    persona_words = 0
    subtype_counts: dict[str, int] = {}
    while persona_words < target:
        subtype = rng.choice(list(PERSONA))
        sentences = composer.persona(subtype)
        asides[rng.randrange(len(sizes))].append((subtype, sentences))
        persona_words += count_words(sentences)
        subtype_counts[subtype] = subtype_counts.get(subtype, 0) + 1

    gold: list[dict] = []
    format_counts: dict[str, int] = {}
    content_words = boilerplate_words = 0
    for index, (size, fmt) in enumerate(zip(sizes, formats, strict=True)):
        paragraphs = compose_file(composer, fmt, size * WORDS_PER_SEGMENT, asides[index])
        title = sentence_case(composer.grammar.expand("title"), "")
        video_id = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:11]
        folder = "blog" if fmt == "md" else "videos"
        name = f"{title.replace('/', '-')} [{video_id}]{EXTENSIONS[fmt]}"
        punctuated = fmt in ("srt", "json")
        spoken: list[list[str]] = []
        for para in paragraphs:
            words = count_words(para.sentences)
            if para.kind == "boilerplate":
                boilerplate_words += words
            else:
                content_words += words
            if para.kind == "persona":
                gold.append({"source": f"{folder}/{name}", "subtype": para.subtype, "text": " ".join(para.sentences)})
            if fmt != "md":
                spoken.append([s if para.kind == "boilerplate"
                               else add_fillers(s, rng, punctuated, persona=para.kind == "persona")
                               for s in para.sentences])
        if fmt == "vtt":
            text = render_vtt(spoken)
        elif fmt == "srt":
            text = render_srt(spoken)
        elif fmt == "txt":
            text = render_txt(spoken)
        elif fmt == "json":
            text = render_json(spoken, auto=rng.random() < 0.5)
        else:
            text = render_markdown(paragraphs, title, rng, composer.grammar)
        (creator / folder / name).write_text(text, encoding="utf-8")
        format_counts[fmt] = format_counts.get(fmt, 0) + 1

    gold_path = out / "gold_labels.jsonl"
    gold_path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in gold), encoding="utf-8")
    summary = ArchiveSummary(
        out_dir=str(out), segments_requested=segments, persona_share_requested=persona_share, seed=seed,
        files=len(sizes), formats=dict(sorted(format_counts.items())), content_words=content_words,
        persona_passages=len(gold), persona_words=persona_words,
        persona_word_share=round(persona_words / max(1, content_words), 4), boilerplate_words=boilerplate_words,
        seconds=round(time.perf_counter() - started, 2), gold_labels=str(gold_path), sources=str(creator),
        persona_subtypes=dict(sorted(subtype_counts.items())))
    (out / "manifest.json").write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write creator/, gold_labels.jsonl and manifest.json into")
    parser.add_argument("--segments", type=int, default=5000, help="archive size in ~140-token segments")
    parser.add_argument("--persona-share", type=float, default=0.02, help="persona words / all content words")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        summary = generate_archive(args.out_dir, args.segments, args.persona_share, args.seed)
    except (ValueError, FileExistsError) as exc:
        print(f"synth_archive: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
