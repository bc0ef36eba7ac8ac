"""Every component ID, defined once, prefixed by page."""


class Shell:
    MODEL = "shell-model"
    IMAGE = "shell-image"  # the image chosen on Maps/Dense: {"source": "test", "index": i} or pixels
    URL = "shell-url"
    ALERT = "shell-alert"  # a banner on every page: cache unwritable, engine restarting
    HEALTH_POLL = "shell-health-poll"
    SESSION = "shell-session"  # this browser tab's id: who watches (and may cancel) which run
    REFRESH = "shell-refresh"
    OIP_LAST = "shell-oip-last"  # the last OIP run asked for in this browser session: survives page switches
    INSIGHT_LAST = "shell-insight-last"  # the same for the Insight page
    UNIT_LAST = "shell-unit-last"  # the same for the unit page


class Model:
    TABLE = "model-table"
    KERNELS = "model-kernels"
    META = "model-meta"
    HISTORY = "model-history"
    CONFUSION = "model-confusion"
    ERROR = "model-error"


class Train:
    DATASET = "train-dataset"
    EPOCHS = "train-epochs"
    BATCH = "train-batch"
    LR = "train-lr"
    SCHEDULE = "train-schedule"
    MOMENTUM = "train-momentum"
    L2 = "train-l2"
    SUBSET = "train-subset"
    NAME = "train-name"
    START = "train-start"
    CANCEL = "train-cancel"
    PROGRESS = "train-progress"
    CURVES = "train-curves"
    MESSAGE = "train-message"
    POLL = "train-poll"
    STATUS = "train-status"
    HISTORY = "train-history"  # the selected model's snapshots and the way to its training timeline


class Maps:
    UNIT_LINK = "maps-unit-link"  # the unit page of the map on the slider
    SOURCE = "maps-source"
    INDEX = "maps-index"
    CLASS = "maps-class"
    UPLOAD = "maps-upload"
    DRAW = "maps-draw"
    DRAW_USE = "maps-draw-use"
    DRAW_SHAPES = "maps-draw-shapes"  # the strokes drawn so far
    LAYER = "maps-layer"
    SCALE = "maps-scale"
    MODE = "maps-mode"
    INPUT = "maps-input"
    PROBS = "maps-probs"
    GRID = "maps-grid"
    MESSAGE = "maps-message"
    MEANS_READY = "maps-means-ready"
    VIEW_MESSAGE = "maps-view-message"
    RF_NOTE = "maps-rf-note"
    MAP_SLIDER = "maps-map-slider"  # drag: one map of the layer, large
    MAP_VIEW = "maps-map-view"
    DRAW_CLEAR = "maps-draw-clear"
    WHY = "maps-why"  # "Why this prediction": the input with its attribution map laid over it
    WHY_METHOD = "maps-why-method"
    WHY_CLASS = "maps-why-class"
    WHY_LAYER = "maps-why-layer"  # Grad-CAM's layer of maps
    WHY_NOTE = "maps-why-note"
    TRUST_RUN = "maps-trust-run"  # the randomisation test of the chosen method
    TRUST = "maps-trust"
    TRUST_NOTE = "maps-trust-note"
    MODEL_NOTE = "maps-model-note"  # what a model switch changed (a test image beyond its test set)


class Dense:
    UNIT_LINK = "dense-unit-link"  # the unit page of the clicked node
    LAYER = "dense-layer"  # which hidden dense layer
    PATTERN = "dense-pattern"
    MEANS = "dense-means"
    SIMILARITY = "dense-similarity"
    CONFUSION = "dense-confusion"
    CELL = "dense-cell"
    PICK = "dense-pick"
    MESSAGE = "dense-message"
    READY = "dense-ready"
    STATUS = "dense-status"
    CAPTION = "dense-caption"


class OIP:
    LAYER = "oip-layer"
    MAP = "oip-map"
    NODE_ON = "oip-node-on"
    NODE_X = "oip-node-x"
    NODE_Y = "oip-node-y"
    WAVES = "oip-waves"
    SEEDS = "oip-seeds"
    STEPS = "oip-steps"
    STEP_SIZE = "oip-step-size"
    BLUR = "oip-blur"
    METHOD = "oip-method"
    IN_RANGE = "oip-in-range"
    JITTER = "oip-jitter"
    WHOLE = "oip-whole"
    RUN = "oip-run"
    CANCEL = "oip-cancel"
    PROGRESS = "oip-progress"
    LIVE = "oip-live"
    CURVE = "oip-curve"
    RESULT = "oip-result"
    GALLERY = "oip-gallery"
    MESSAGE = "oip-message"
    KEY = "oip-key"  # cache key of the shown result (for downloads)
    MIX = "oip-mix"
    SIGMA = "oip-sigma"
    POLL = "oip-poll"
    FOUND = "oip-found"  # the key of an earlier run's result once it is in the cache
    GIF = "oip-gif"
    PNG = "oip-png"
    DOWNLOAD = "oip-download"
    LINKS = "oip-links"  # to the Insight analyses of the chosen map
    UNIT_LINK = "oip-unit-link"  # the chosen unit's page
    MAP_SLIDER = "oip-map-slider"  # drag: scrub through a whole-layer result
    SCRUB = "oip-scrub"  # which map the scrubbed view shows
    NOISE = "oip-noise"
    SPECTRUM = "oip-spectrum"  # the start noise and the radial spectrum of each noise family
    CONTRAST = "oip-contrast"
    CONTRAST_VIEW = "oip-contrast-view"
    PENDING = "oip-pending"  # controls to apply once the model's layers are known: a link's (?layer=&map=) or a record's
    INIT = "oip-init"  # set once the controls were first filled in on this page load
    SHOWN = "oip-shown"  # the sealed record of the result on screen (None: nothing shown)
    MODE = "oip-mode"  # the objective: one unit, negative, diversity, expression, interpolation
    EXPR = "oip-expr"  # the expression's text
    DIVERSITY = "oip-diversity"  # the diversity penalty's weight
    TO_MAP = "oip-to-map"  # an interpolation's unit B
    FRAMES = "oip-frames"  # an interpolation's images
    MODE_BOX = "oip-mode-box"  # the chosen mode's own controls
    DONE = "oip-done"  # the sealed record of the run that just ended: the page shows its result if it still matches
    AUTORUN = "oip-autorun"  # set to run at once (a hand-off link with run=1)
    SHOW_LAST = "oip-show-last"  # "show the last result": sets the controls to the last run's
    MAP_LABEL = "oip-map-label"  # "Map", "Unit" or "Class", by the layer's role
    SCROLLED = "oip-scrolled"  # the output of the browser-side callback that brings an opened tile into view


class Insight:
    ANALYSIS = "insight-analysis"
    HELP = "insight-help"
    LAYER = "insight-layer"
    MAP = "insight-map"
    NODE_ON = "insight-node-on"
    NODE_X = "insight-node-x"
    NODE_Y = "insight-node-y"
    MODEL_B = "insight-model-b"
    WAVES = "insight-waves"
    SEEDS = "insight-seeds"
    STEPS = "insight-steps"
    K = "insight-k"
    TARGET = "insight-target"  # the map/node controls (exemplars only)
    OTHER = "insight-other"  # the second model's control (compare only)
    TOPK = "insight-topk"  # the k control (exemplars only)
    RUN = "insight-run"
    CANCEL = "insight-cancel"
    PROGRESS = "insight-progress"
    MESSAGE = "insight-message"
    RESULT = "insight-result"
    KEY = "insight-key"  # cache key of the shown result (for exports)
    CSV = "insight-csv"
    PNG = "insight-png"
    DOWNLOAD = "insight-download"
    POLL = "insight-poll"
    FOUND = "insight-found"
    TABLE = "insight-table"
    DETAIL = "insight-detail"
    NOISE = "insight-noise"
    LAB_LINK = "insight-lab-link"  # opens the analysed map in the OIP lab
    UNIT_LINK = "insight-unit-link"  # opens the analysed map's unit page
    SWEEP = "insight-sweep"  # the sweep heatmap (click a cell for the map)
    CORRELATION = "insight-correlation"  # the compare heatmap (click a cell for that pair)
    METHOD = "insight-method"
    PENDING = "insight-pending"  # controls to apply once the model's layers are known (a link's, a record's)
    INIT = "insight-init"
    SHOWN = "insight-shown"
    DONE = "insight-done"
    AUTORUN = "insight-autorun"
    SHOW_LAST = "insight-show-last"
    SCROLLED = "insight-scrolled"  # the output of the browser-side callback that brings a clicked detail into view


class UnitPage:
    LAYER = "unit-layer"
    INDEX = "unit-index"  # the unit slider
    PREV = "unit-prev"
    NEXT = "unit-next"
    RUN = "unit-run"
    CANCEL = "unit-cancel"
    PROGRESS = "unit-progress"
    MESSAGE = "unit-message"
    RESULT = "unit-result"
    TITLE = "unit-title"
    FACTS = "unit-facts"
    SELECTIVITY = "unit-selectivity"
    CARD = "unit-card"  # download the unit card
    DOWNLOAD = "unit-download"
    LINKS = "unit-links"
    ATLAS = "unit-atlas"  # build the model's atlas (zip)
    ATLAS_PROGRESS = "unit-atlas-progress"
    ATLAS_MESSAGE = "unit-atlas-message"
    ATLAS_DOWNLOAD = "unit-atlas-download"
    POLL = "unit-poll"
    PENDING = "unit-pending"
    INIT = "unit-init"
    SHOWN = "unit-shown"
    DONE = "unit-done"
    AUTORUN = "unit-autorun"
    SHOW_LAST = "unit-show-last"
    SCROLLED = "unit-scrolled"
